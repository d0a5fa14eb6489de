/**
 * The synchronous wait: after queueing, the ingest side reads the request's record until it holds
 * an answer (early or final), an error, or the deadline passes. Reading the results table is the
 * only channel between worker and ingest that works the same on every transport, which is why the
 * wait polls rather than subscribes; the interval trades read cost against added latency.
 */
import type { ResultRecord, ResultStore } from '../../adapters/dynamo/result-store';

/** What the wait reads records from. */
export type ResultReader = Pick<ResultStore, 'get'>;

export type WaitOutcome =
  /** The record holds an answer or an error. */
  | { readonly kind: 'settled'; readonly record: ResultRecord }
  /** The deadline passed first; `readFailure` is set when the last read failed. */
  | { readonly kind: 'timeout'; readonly readFailure?: unknown };

export interface WaitOptions {
  readonly results: ResultReader;
  readonly requestId: string;
  /** Epoch ms after which the wait gives up (one last read is made at it). */
  readonly untilMs: number;
  readonly pollIntervalMs: number;
  readonly nowMs: () => number;
  /** @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls until the record is settled or `untilMs` passes. A failed read is retried at the next
 * interval (the table may recover before the deadline); only a wait that ends on a failed read
 * reports it, so the caller can answer 503 rather than 504.
 */
export async function awaitAnswer(options: WaitOptions): Promise<WaitOutcome> {
  const sleep = options.sleep ?? defaultSleep;
  for (;;) {
    let readFailure: unknown;
    let failed = false;
    try {
      const record = await options.results.get(options.requestId);
      if (record !== undefined && record.status !== 'pending') return { kind: 'settled', record };
    } catch (error) {
      failed = true;
      readFailure = error;
    }
    const leftMs = options.untilMs - options.nowMs();
    if (leftMs <= 0) return failed ? { kind: 'timeout', readFailure } : { kind: 'timeout' };
    await sleep(Math.min(options.pollIntervalMs, leftMs));
  }
}
