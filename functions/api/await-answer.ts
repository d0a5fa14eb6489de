/**
 * The synchronous wait: after queueing, the ingest side waits for the request's first answer
 * (early or final), an error, or the deadline.
 *
 * Where the transport pushes answers (in-process, Redis), the wait takes the pushed answer the
 * moment the worker releases it and reads the durable record only as a fallback: at the deadline,
 * and, where the channel may lose a push (Redis pub/sub delivers at most once), once every
 * `fallbackReadMs` as well. A lossless channel (in-process) is never polled: with a backlog of
 * thousands of waiting requests, a read per waiter per second would cost the front door more CPU
 * than the answers themselves.
 *
 * Where nothing pushes (the ingest Lambda on AWS), it reads the results table on an adaptive
 * schedule: at once, then after `firstMs`, each interval `factor` times the one before, up to
 * `maxMs`. An answer written before the first read costs one read; with the defaults (4 ms, ×1.5,
 * 100 ms) an answer released 10 ms after queueing costs 3 reads, one at 100 ms 8 and one at 1 s
 * 18, against 2, 6 and 51 reads at a fixed 20 ms: a fast answer is seen within a few milliseconds
 * instead of up to 20, and a slow one costs a third of the reads (docs/operations.md has the cost).
 */
import type { AnswerEvent } from '../../adapters/answers';
import type { ResultRecord, ResultStore } from '../../adapters/dynamo';
import type { AnswerInbox } from './answer-inbox';

/** What the wait reads records from. */
export type ResultReader = Pick<ResultStore, 'get'>;

export type WaitOutcome =
  /** The durable record holds an answer or an error. */
  | { readonly kind: 'settled'; readonly record: ResultRecord }
  /** The worker pushed an answer or an error. */
  | { readonly kind: 'pushed'; readonly event: AnswerEvent }
  /** The deadline passed first; `readFailure` is set when the last read failed. */
  | { readonly kind: 'timeout'; readonly readFailure?: unknown };

/** Intervals between reads of the results table where no answer is pushed. */
export interface ReadSchedule {
  /** The interval after the first read, ms. */
  readonly firstMs: number;
  /** Each interval is this many times the one before. */
  readonly factor: number;
  /** Longest interval, ms. */
  readonly maxMs: number;
}

export const DEFAULT_READ_SCHEDULE: ReadSchedule = { firstMs: 4, factor: 1.5, maxMs: 100 };

/** How often a pushed wait still reads the durable record, ms. */
export const DEFAULT_FALLBACK_READ_MS = 1000;

export interface WaitOptions {
  readonly results: ResultReader;
  readonly requestId: string;
  /** Epoch ms after which the wait gives up (one last read is made at it). */
  readonly untilMs: number;
  readonly nowMs: () => number;
  /** Pushed answers of this request; without it the table is read on `schedule`. */
  readonly inbox?: Pick<AnswerInbox, 'next' | 'lossless'>;
  /** @default DEFAULT_READ_SCHEDULE */
  readonly schedule?: ReadSchedule;
  /** @default DEFAULT_FALLBACK_READ_MS */
  readonly fallbackReadMs?: number;
  /** @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The intervals the adaptive schedule waits between reads, in order (the first read is at once). */
export function* readIntervals(schedule: ReadSchedule): Generator<number, never> {
  let interval = schedule.firstMs;
  for (;;) {
    yield interval;
    interval = Math.min(schedule.maxMs, interval * schedule.factor);
  }
}

/** How long a pushed wait goes without reading the record: until the deadline where nothing is lost. */
export function fallbackReadIntervalMs(
  inbox: Pick<AnswerInbox, 'lossless'> | undefined,
  fallbackReadMs: number | undefined,
): number {
  return inbox?.lossless === true ? Number.POSITIVE_INFINITY : (fallbackReadMs ?? DEFAULT_FALLBACK_READ_MS);
}

/**
 * Waits until an answer is pushed or recorded, or `untilMs` passes. A failed read is retried at
 * the next interval (the table may recover before the deadline); only a wait that ends on a failed
 * read reports it, so the caller can answer 503 rather than 504.
 */
export async function awaitAnswer(options: WaitOptions): Promise<WaitOutcome> {
  const sleep = options.sleep ?? defaultSleep;
  const intervals = readIntervals(options.schedule ?? DEFAULT_READ_SCHEDULE);
  const { inbox } = options;
  const fallbackReadMs = fallbackReadIntervalMs(inbox, options.fallbackReadMs);
  for (;;) {
    if (inbox !== undefined) {
      // Pushed answers need no read; the record is read only when nothing came for a while.
      const leftMs = options.untilMs - options.nowMs();
      const event = await inbox.next(Math.max(0, Math.min(fallbackReadMs, leftMs)));
      if (event !== undefined) return { kind: 'pushed', event };
    }
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
    if (inbox === undefined) await sleep(Math.min(intervals.next().value, leftMs));
  }
}
