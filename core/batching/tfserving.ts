/**
 * The `tfserving` policy: a bounded FIFO queue that trades a little waiting for fuller batches. It
 * knows nothing about model latency, so it protects latency only through the batch timeout and a
 * small queue that refuses excess load instead of letting waits grow without bound.
 */
import { InputError } from '../errors';
import { paddedBatchSize, supportedBatchSizes } from './padding';
import {
  checkNow,
  checkPendingRequest,
  type BatchDecision,
  type BatchingPolicy,
  type DroppedRequest,
  type EnqueueResult,
  type PendingRequest,
} from './policy';

export interface TfServingOptions {
  /** Largest batch served; must fit the largest supported size. @default 8 */
  readonly maxBatchSize?: number;
  /**
   * How long, in ms after its arrival, the oldest queued request waits for a fuller batch before an
   * under-full batch is served. No default: a good value depends on the model's latency and SLO.
   */
  readonly batchTimeoutMs: number;
  /** Queue capacity in batches: at most maxBatchSize × maxQueuedBatches requests wait. @default 2 */
  readonly maxQueuedBatches?: number;
  /** Sizes batches are padded to. @default DEFAULT_BATCH_SIZES */
  readonly batchSizes?: readonly number[];
  /**
   * Remove requests whose deadline has already passed instead of serving them late. Without a
   * latency model this is the only deadline check the policy can make. @default true
   */
  readonly dropExpired?: boolean;
}

/**
 * States and transitions (q = queued requests, B = maxBatchSize, T = batchTimeoutMs, a = the
 * earliest arrival among the queued requests, C = B × maxQueuedBatches):
 *
 * | state     | condition            | next(now)                        | enqueue            |
 * |-----------|----------------------|----------------------------------|--------------------|
 * | empty     | q = 0                | idle                             | accept → filling   |
 * | filling   | 0 < q < B, now < a+T | wait until a+T                   | accept (→ full)    |
 * | timed out | 0 < q < B, now ≥ a+T | serve all q → empty              | accept (→ full)    |
 * | full      | B ≤ q ≤ C            | serve the first B → filling/full | refuse when q = C  |
 *
 * With `dropExpired`, requests whose deadline is ≤ now are removed (reason `deadline`) before the
 * state is read, and refused on arrival. The timeout counts from each request's `arrivalMs`, so time
 * a request spent before reaching this queue counts against its wait. Served batches keep FIFO order.
 */
export class TfServingPolicy implements BatchingPolicy {
  readonly name = 'tfserving' as const;
  readonly maxBatchSize: number;
  readonly batchTimeoutMs: number;
  /** Most requests that may wait at once. */
  readonly capacity: number;
  readonly batchSizes: readonly number[];
  private readonly dropExpired: boolean;
  private queue: PendingRequest[] = [];
  private readonly queuedIds = new Set<string>();
  private dropped: DroppedRequest[] = [];

  constructor(options: TfServingOptions) {
    this.batchSizes = supportedBatchSizes(options.batchSizes);
    const largest = this.batchSizes[this.batchSizes.length - 1] as number;
    this.maxBatchSize = options.maxBatchSize ?? 8;
    if (!Number.isSafeInteger(this.maxBatchSize) || this.maxBatchSize < 1 || this.maxBatchSize > largest) {
      throw new InputError(
        `tfserving maxBatchSize must be an integer from 1 to the largest supported batch size (${largest}), got ${this.maxBatchSize}`,
      );
    }
    if (!Number.isFinite(options.batchTimeoutMs) || options.batchTimeoutMs < 0) {
      throw new InputError(
        `tfserving batchTimeoutMs must be a finite number ≥ 0, got ${options.batchTimeoutMs}`,
      );
    }
    this.batchTimeoutMs = options.batchTimeoutMs;
    const maxQueuedBatches = options.maxQueuedBatches ?? 2;
    if (!Number.isSafeInteger(maxQueuedBatches) || maxQueuedBatches < 1) {
      throw new InputError(`tfserving maxQueuedBatches must be a positive integer, got ${maxQueuedBatches}`);
    }
    this.capacity = this.maxBatchSize * maxQueuedBatches;
    this.dropExpired = options.dropExpired ?? true;
  }

  get queued(): number {
    return this.queue.length;
  }

  enqueue(request: PendingRequest, nowMs: number): EnqueueResult {
    checkPendingRequest(request);
    checkNow(nowMs);
    if (this.queuedIds.has(request.id)) {
      return { accepted: false, reason: `request ${request.id} is already queued` };
    }
    if (this.dropExpired && request.deadlineAtMs <= nowMs) {
      this.dropped.push({ request, reason: 'deadline' });
      return { accepted: false, reason: 'deadline' };
    }
    if (this.queue.length >= this.capacity) {
      this.dropped.push({ request, reason: 'queue-full' });
      return { accepted: false, reason: 'queue-full' };
    }
    this.queue.push(request);
    this.queuedIds.add(request.id);
    return { accepted: true };
  }

  next(nowMs: number): BatchDecision {
    checkNow(nowMs);
    if (this.dropExpired) this.removeExpired(nowMs);
    if (this.queue.length === 0) return { kind: 'idle' };
    if (this.queue.length >= this.maxBatchSize) return this.serve(this.maxBatchSize);
    let oldestArrivalMs = Infinity;
    for (const request of this.queue) oldestArrivalMs = Math.min(oldestArrivalMs, request.arrivalMs);
    const timeoutAtMs = oldestArrivalMs + this.batchTimeoutMs;
    if (nowMs >= timeoutAtMs) return this.serve(this.queue.length);
    return { kind: 'wait', untilMs: timeoutAtMs };
  }

  drainDropped(): DroppedRequest[] {
    const dropped = this.dropped;
    this.dropped = [];
    return dropped;
  }

  private removeExpired(nowMs: number): void {
    if (!this.queue.some((request) => request.deadlineAtMs <= nowMs)) return;
    const kept: PendingRequest[] = [];
    for (const request of this.queue) {
      if (request.deadlineAtMs <= nowMs) {
        this.queuedIds.delete(request.id);
        this.dropped.push({ request, reason: 'deadline' });
      } else {
        kept.push(request);
      }
    }
    this.queue = kept;
  }

  private serve(count: number): BatchDecision {
    const requests = this.queue.splice(0, count);
    for (const request of requests) this.queuedIds.delete(request.id);
    const paddedSize = paddedBatchSize(requests.length, this.batchSizes) as number;
    return { kind: 'serve', requests, paddedSize };
  }
}
