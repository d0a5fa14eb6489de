/**
 * The results table behind a worker whose waiting clients are woken by pushed answers, with the
 * settled answers of many requests written together. Each `putSettled` joins the next batch, which
 * starts on the next turn of the event loop (so every answer of a worker's batch, released in the
 * same turn, shares it) or, while a batch is being written, once that one is done (so under load
 * batches grow with the backlog instead of the calls). A batch costs two table calls per 25
 * requests (`ResultStore.putSettledMany`) instead of one per request; on an in-process table such
 * as dynalite each call costs a visible share of a millisecond of CPU in the SDK and in the table.
 *
 * At low rates a worker batch often holds one request, so each settle would still cost two calls;
 * `lingerMs` lets a batch wait that long for the settles that follow before it is written. The
 * waiting clients already have their answers from the channel, so only the durable copy (and the
 * message's acknowledgement) comes later; on the local stack this halves the table's CPU at a
 * tenth of capacity, and with it the time the HTTP server waits behind the SDK on the one thread.
 *
 * Batches run one at a time, so a redelivered request's later settle reads what an earlier one
 * wrote and the first write still wins. Each `putSettled` resolves once its answers are recorded
 * and rejects with the reason when they are not: the worker then hands the message back to the
 * queue, which serves it again (counted as `store_failed`), so a failed write is never dropped.
 * Other writes go straight to the store.
 */
import type { AnswerError, EarlyAnswer, FinalAnswer } from '../../core/serving/answers';
import type { AnswerStore } from '../../core/serving/result-sink';
import { checkLingerMs } from './linger';
import type { ResultStore, SettledAnswers } from './result-store';

interface Waiting {
  readonly entry: SettledAnswers;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/** Requests per batch at most (one BatchGetItem's worth). */
export const MAX_SETTLED_BATCH = 100;

export interface BatchedSettlesOptions {
  /**
   * How long a batch waits for more settles before it is written, ms; 0 writes it on the next
   * turn of the event loop. @default 0
   */
  readonly lingerMs?: number;
}

export class BatchedSettles implements AnswerStore {
  /** Batches written and requests in them since start (how well settles coalesce). */
  readonly counts = { batches: 0, requests: 0 };
  private waiting: Waiting[] = [];
  private scheduled = false;
  private writing: Promise<void> | undefined;
  private readonly lingerMs: number;
  /** The timer of a batch waiting for more settles. */
  private lingering: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Pick<ResultStore, 'putEarly' | 'putFinal' | 'putError' | 'putSettledMany'>,
    options: BatchedSettlesOptions = {},
  ) {
    this.lingerMs = checkLingerMs(options.lingerMs ?? 0);
  }

  putEarly(requestId: string, answer: EarlyAnswer): Promise<unknown> {
    return this.store.putEarly(requestId, answer);
  }

  putFinal(requestId: string, answer: FinalAnswer): Promise<unknown> {
    return this.store.putFinal(requestId, answer);
  }

  putError(requestId: string, error: AnswerError): Promise<unknown> {
    return this.store.putError(requestId, error);
  }

  putSettled(requestId: string, model: string, final: FinalAnswer, early?: EarlyAnswer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({
        entry: { requestId, model, final, ...(early === undefined ? {} : { early }) },
        resolve,
        reject,
      });
      this.schedule();
    });
  }

  /** Resolves once every settle asked for so far has been written or failed (a lingering batch now). */
  async flushed(): Promise<void> {
    while (this.writing !== undefined || this.waiting.length > 0 || this.scheduled) {
      if (this.lingering !== undefined) this.startScheduled();
      await (this.writing ?? new Promise((resolve) => setImmediate(resolve)));
    }
  }

  private schedule(): void {
    if (this.scheduled || this.writing !== undefined) return;
    this.scheduled = true;
    if (this.lingerMs === 0) setImmediate(() => this.startScheduled());
    else this.lingering = setTimeout(() => this.startScheduled(), this.lingerMs);
  }

  /** Writes the scheduled batch now: when its turn or linger comes, or when asked to flush. */
  private startScheduled(): void {
    clearTimeout(this.lingering);
    this.lingering = undefined;
    this.scheduled = false;
    this.writeNext();
  }

  private writeNext(): void {
    if (this.writing !== undefined || this.waiting.length === 0) return;
    const batch = this.waiting.slice(0, MAX_SETTLED_BATCH);
    this.waiting = this.waiting.slice(batch.length);
    this.counts.batches += 1;
    this.counts.requests += batch.length;
    this.writing = this.store
      .putSettledMany(batch.map((waiting) => waiting.entry))
      .then(
        (outcomes) =>
          batch.forEach((waiting, i) => {
            const error = outcomes[i];
            if (error === undefined) waiting.resolve();
            else waiting.reject(error);
          }),
        (error: unknown) => {
          const reason = error instanceof Error ? error : new Error(String(error));
          for (const waiting of batch) waiting.reject(reason);
        },
      )
      .finally(() => {
        this.writing = undefined;
        this.writeNext();
      });
  }
}
