/**
 * The exit log's writer: the worker hands it one item per served batch and goes on serving; it
 * buffers, splits oversized batches into parts, writes in batches of 25 in the background with
 * retries, and counts what it drops. The schema, key design and stored form are in
 * exit-log-format.ts; the reader is exit-log-reader.ts.
 */
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { describeIssues, InputError } from '../../core/errors';
import {
  defaultErrorListener,
  isServiceError,
  type DocumentSender,
  type DynamoErrorListener,
} from './dynamo-client';
import {
  checkWhole,
  DEFAULT_EXIT_LOG_TTL_MS,
  DEFAULT_EXIT_LOG_SHARDS,
  DEFAULT_MAX_EXIT_LOG_ITEM_BYTES,
  exitLogItemSchema,
  isSampled,
  toStoredItems,
  type ExitLogItem,
  type StoredExitLog,
} from './exit-log-format';
import { DYNAMO_MAX_ITEM_BYTES } from './item-size';

/** BatchWriteItem takes at most 25 puts per call. */
export const BATCH_WRITE_MAX_ITEMS = 25;

export interface ExitLogWriterOptions {
  readonly client: DocumentSender;
  readonly tableName: string;
  /**
   * Partitions per model per minute. Readers must query at least as many as any writer used.
   * @default DEFAULT_EXIT_LOG_SHARDS (4)
   */
  readonly shards?: number;
  /** Fraction of batches kept, chosen by batch id so the choice repeats on redelivery. @default 1 */
  readonly sampleRate?: number;
  /** Batches held in memory awaiting a write; beyond it new batches are dropped and counted. @default 1000 */
  readonly maxBufferedItems?: number;
  /** How often buffered batches are written even when fewer than 25 are waiting. @default 1000 */
  readonly flushIntervalMs?: number;
  /** How long items live, counted from the batch's start. @default DEFAULT_EXIT_LOG_TTL_MS (7 days) */
  readonly ttlMs?: number;
  /** Retries of unprocessed items (and of failed calls) before they count as failed. @default 8 */
  readonly maxRetries?: number;
  /** First retry delay; each retry doubles it, up to retryMaxDelayMs, with full jitter. @default 50 */
  readonly retryBaseDelayMs?: number;
  /** @default 2000 */
  readonly retryMaxDelayMs?: number;
  /** Items are split to stay under this size. @default DEFAULT_MAX_EXIT_LOG_ITEM_BYTES (350,000 bytes) */
  readonly maxItemBytes?: number;
  /** Receives write failures, invalid batches and left-out requests. @default one JSON line on stderr */
  readonly onError?: DynamoErrorListener;
}

export interface ExitLogWriterStats {
  /** Batches stored in full. */
  readonly written: number;
  /** Batches refused because the buffer was full or the writer closed. */
  readonly dropped: number;
  /** Item writes sent again (unprocessed items and items of failed calls). */
  readonly retried: number;
  /** Batches that failed the schema or had an item that could not be written within the retries. */
  readonly failed: number;
  /** Batches left out by sampling. */
  readonly sampledOut: number;
  /** Batches accepted and not yet written or failed. */
  readonly pending: number;
}

/** One batch's progress through its parts; settles once every part is written or given up. */
interface BatchTracker {
  remaining: number;
  failed: boolean;
  settled: boolean;
}

interface PendingPart {
  readonly item: StoredExitLog;
  readonly key: string;
  readonly tracker: BatchTracker;
}

/** Errors that repeating the same request cannot fix. */
const PERMANENT_ERRORS = [
  'ValidationException',
  'ResourceNotFoundException',
  'AccessDeniedException',
  'UnrecognizedClientException',
];

/**
 * Writes exit logs off the serving path. `record` only samples and buffers, so it never blocks and
 * never throws; batches are written in groups of 25 by one background loop (started when a group
 * is full, by the interval timer, or by `flush`), which retries unprocessed items with exponential
 * backoff and jitter. Losing a log costs the controller one batch of evidence, never an answer, so
 * when DynamoDB cannot keep up the writer drops and counts rather than grow without bound.
 *
 * A batch too large for one item (DynamoDB's 400 KB) is split into parts, never trimmed; see
 * exit-log-format.ts. Batches are checked against the schema when written, not when recorded, to
 * keep `record` cheap, so the writer takes ownership of recorded items: do not change one after
 * recording it.
 */
export class ExitLogWriter {
  private readonly client: DocumentSender;
  private readonly tableName: string;
  private readonly shards: number;
  private readonly sampleRate: number;
  private readonly maxBufferedItems: number;
  private readonly ttlMs: number;
  private readonly maxRetries: number;
  private readonly retryBaseDelayMs: number;
  private readonly retryMaxDelayMs: number;
  private readonly maxItemBytes: number;
  private readonly onError: DynamoErrorListener;
  private readonly timer: NodeJS.Timeout;
  private readonly buffer: unknown[] = [];
  private readonly parts: PendingPart[] = [];
  /** Trackers in the order batches were accepted; the settled ones at the front are removed. */
  private readonly trackers: BatchTracker[] = [];
  private readonly waiters: { target: number; resolve: () => void }[] = [];
  private draining: Promise<void> | undefined;
  private closed = false;
  private accepted = 0;
  private settledInOrder = 0;
  private readonly counts = { written: 0, dropped: 0, retried: 0, failed: 0, sampledOut: 0 };

  constructor(options: ExitLogWriterOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.shards = checkWhole('shards', options.shards ?? DEFAULT_EXIT_LOG_SHARDS, 1, 1000);
    this.sampleRate = options.sampleRate ?? 1;
    if (!(this.sampleRate >= 0 && this.sampleRate <= 1)) {
      throw new InputError(`sampleRate must be between 0 and 1, got ${this.sampleRate}`);
    }
    this.maxBufferedItems = checkWhole('maxBufferedItems', options.maxBufferedItems ?? 1000, 1, 10_000_000);
    const flushIntervalMs = checkWhole('flushIntervalMs', options.flushIntervalMs ?? 1000, 1, 3_600_000);
    this.ttlMs = checkWhole('ttlMs', options.ttlMs ?? DEFAULT_EXIT_LOG_TTL_MS, 1000, Number.MAX_SAFE_INTEGER);
    this.maxRetries = checkWhole('maxRetries', options.maxRetries ?? 8, 0, 100);
    this.retryBaseDelayMs = checkWhole('retryBaseDelayMs', options.retryBaseDelayMs ?? 50, 0, 60_000);
    this.retryMaxDelayMs = checkWhole('retryMaxDelayMs', options.retryMaxDelayMs ?? 2000, 0, 600_000);
    this.maxItemBytes = checkWhole(
      'maxItemBytes',
      options.maxItemBytes ?? DEFAULT_MAX_EXIT_LOG_ITEM_BYTES,
      1024,
      DYNAMO_MAX_ITEM_BYTES,
    );
    this.onError = options.onError ?? defaultErrorListener('exit-log-writer');
    // The timer must not keep a process alive on its own; close() writes what is left.
    this.timer = setInterval(() => this.startDrain(), flushIntervalMs).unref();
  }

  /** Accepts one batch's log for writing; never blocks, never throws. */
  record(item: ExitLogItem): void {
    try {
      if (this.closed) {
        this.counts.dropped += 1;
        return;
      }
      const batchId: unknown = (item as { batchId?: unknown } | undefined)?.batchId;
      if (typeof batchId !== 'string') {
        throw new InputError(`exit log item has no batchId string`);
      }
      if (!isSampled(batchId, this.sampleRate)) {
        this.counts.sampledOut += 1;
        return;
      }
      if (this.buffer.length >= this.maxBufferedItems) {
        this.counts.dropped += 1;
        return;
      }
      this.buffer.push(item);
      this.accepted += 1;
      if (this.buffer.length >= BATCH_WRITE_MAX_ITEMS) this.startDrain();
    } catch (error) {
      this.counts.failed += 1;
      this.report(error, 'exit log item refused');
    }
  }

  /** Counts since construction; `pending` is what a flush would still write. */
  stats(): ExitLogWriterStats {
    return { ...this.counts, pending: this.accepted - this.settledInOrder };
  }

  /** Resolves once every batch accepted before the call is written or counted as failed; never rejects. */
  async flush(): Promise<void> {
    const target = this.accepted;
    if (this.settledInOrder >= target) return;
    const done = new Promise<void>((resolve) => this.waiters.push({ target, resolve }));
    this.startDrain();
    await done;
  }

  /** Stops the timer, refuses further batches (counted as dropped) and writes what is buffered. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.flush();
  }

  private startDrain(): void {
    if (this.draining !== undefined || (this.buffer.length === 0 && this.parts.length === 0)) return;
    this.draining = this.drain()
      .catch((error: unknown) => this.report(error, 'exit log writer loop failed'))
      .finally(() => {
        this.draining = undefined;
        // A batch recorded between the loop's last check and now would otherwise wait for the timer.
        this.startDrain();
      });
  }

  private async drain(): Promise<void> {
    for (;;) {
      while (this.parts.length < BATCH_WRITE_MAX_ITEMS && this.buffer.length > 0) {
        this.prepare(this.buffer.shift());
      }
      if (this.parts.length === 0) return;
      await this.writeGroup(this.parts.splice(0, BATCH_WRITE_MAX_ITEMS));
    }
  }

  /** Checks a recorded batch and turns it into stored parts; a batch that fails the schema fails here. */
  private prepare(recorded: unknown): void {
    const tracker: BatchTracker = { remaining: 0, failed: false, settled: false };
    this.trackers.push(tracker);
    try {
      const parsed = exitLogItemSchema.safeParse(recorded);
      if (!parsed.success) throw new InputError(describeIssues(parsed.error.issues));
      const item = parsed.data;
      const expiresAt = Math.ceil((item.startedAtMs + this.ttlMs) / 1000);
      const stored = toStoredItems(item, { shards: this.shards, expiresAt, maxItemBytes: this.maxItemBytes });
      if (stored.oversizedRequests > 0) {
        this.report(
          new Error(
            `${stored.oversizedRequests} requests of batch ${item.batchId} are too large for an item`,
          ),
          'exit log requests left out',
        );
      }
      tracker.remaining = stored.items.length;
      for (const part of stored.items) {
        this.parts.push({ item: part, key: keyOf(part), tracker });
      }
    } catch (error) {
      // Nothing of this batch was queued, so it settles here and cannot hold up a flush.
      this.settle(tracker, false);
      this.report(error, 'exit log item is not valid');
    }
  }

  /** Writes up to 25 parts, retrying what DynamoDB leaves unprocessed; settles every part given. */
  private async writeGroup(group: PendingPart[]): Promise<void> {
    let pending = group;
    for (let attempt = 0; ; attempt++) {
      let unprocessed: PendingPart[];
      let lastError: unknown;
      try {
        const output = await this.client.send(
          new BatchWriteCommand({
            RequestItems: { [this.tableName]: pending.map((part) => ({ PutRequest: { Item: part.item } })) },
          }),
        );
        const left = output.UnprocessedItems?.[this.tableName] ?? [];
        const leftKeys = new Set(left.map((request) => keyOf(request.PutRequest?.Item)));
        unprocessed = left.length === 0 ? [] : pending.filter((part) => leftKeys.has(part.key));
      } catch (error) {
        if (PERMANENT_ERRORS.some((name) => isServiceError(error, name))) {
          this.giveUp(pending, error);
          return;
        }
        unprocessed = pending;
        lastError = error;
      }
      const stillPending = new Set(unprocessed);
      for (const part of pending) {
        if (!stillPending.has(part)) this.partDone(part, true);
      }
      if (unprocessed.length === 0) return;
      if (attempt >= this.maxRetries) {
        this.giveUp(
          unprocessed,
          lastError ?? new Error(`items still unprocessed after ${this.maxRetries} retries`),
        );
        return;
      }
      this.counts.retried += unprocessed.length;
      await sleep(this.backoffMs(attempt + 1));
      pending = unprocessed;
    }
  }

  /** Exponential backoff with full jitter, so retrying writers spread out instead of colliding again. */
  private backoffMs(retry: number): number {
    const ceiling = Math.min(this.retryMaxDelayMs, this.retryBaseDelayMs * 2 ** (retry - 1));
    return Math.random() * ceiling;
  }

  private giveUp(parts: readonly PendingPart[], cause: unknown): void {
    for (const part of parts) this.partDone(part, false);
    this.report(cause, `exit log write failed for ${parts.length} items`);
  }

  private partDone(part: PendingPart, written: boolean): void {
    const tracker = part.tracker;
    tracker.remaining -= 1;
    if (!written) tracker.failed = true;
    if (tracker.remaining === 0) this.settle(tracker, !tracker.failed);
  }

  private settle(tracker: BatchTracker, written: boolean): void {
    tracker.settled = true;
    if (written) this.counts.written += 1;
    else this.counts.failed += 1;
    while (this.trackers[0]?.settled === true) {
      this.trackers.shift();
      this.settledInOrder += 1;
    }
    for (let index = this.waiters.length - 1; index >= 0; index--) {
      const waiter = this.waiters[index];
      if (waiter !== undefined && waiter.target <= this.settledInOrder) {
        this.waiters.splice(index, 1);
        waiter.resolve();
      }
    }
  }

  private report(error: unknown, context: string): void {
    try {
      const message = error instanceof Error ? error.message : String(error);
      this.onError(new Error(`${context}: ${message}`, { cause: error }));
    } catch {
      // A failing listener must not break the writer; there is nowhere left to report to.
    }
  }
}

/** A stored item's table key as one string, to match unprocessed items back to their batches. */
function keyOf(item: Record<string, unknown> | undefined): string {
  return `${String(item?.['pk'])}\u0000${String(item?.['sk'])}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
