/**
 * The `clockwork` policy: SLO-aware batching that relies on inference time being predictable. It
 * keeps requests in deadline order and, whenever the executor is free, serves at once the largest
 * batch whose profiled latency still meets the most urgent deadline in it (or, with the
 * `throughput` fill, the part of it that serves the most requests per profiled ms). It never waits
 * for a fuller batch, and it gives up early on requests that cannot be answered in time, so the
 * executor spends no time on answers nobody can use.
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

export interface ClockworkOptions {
  /**
   * Profiled latency in ms of one batch at a supported (padded) size. It is called at decision
   * time, so a caller may answer from its current configuration's profile.
   */
  readonly latencyMs: (paddedSize: number) => number;
  /** Sizes batches are padded to. @default DEFAULT_BATCH_SIZES */
  readonly batchSizes?: readonly number[];
  /** Largest batch served. @default the largest supported size */
  readonly maxBatchSize?: number;
  /** Most requests that may wait at once; arrivals beyond it are refused as `queue-full`. @default no limit */
  readonly maxQueued?: number;
  /** How many of the requests that fit a batch takes; see BATCH_FILLS. @default 'largest' */
  readonly fill?: BatchFill;
}

/**
 * How a batch is filled from the requests that could meet the earliest deadline together.
 * - `largest`: all of them, padded up to the next supported size (the design's rule).
 * - `throughput`: the number, among that one and the supported sizes below its padding (each
 *   filled completely), whose profiled latency serves the most requests per millisecond; ties go
 *   to the larger. Padding computes nothing: on mnist-resnet's profile a batch of 5 runs as 8 and
 *   costs a request 5.1 ms against 2.75 ms in a full batch of 4, so a queue that drifts into such
 *   sizes slows the executor just when it is busiest (docs/evaluation.md, "Where the cores go").
 *   Leaving the rest queued costs them little where another lane is free or the next batch is short.
 */
export const BATCH_FILLS = ['largest', 'throughput'] as const;
export type BatchFill = (typeof BATCH_FILLS)[number];

/**
 * States and transitions (q = queued requests kept in deadline order, L(s) = latencyMs(s),
 * p(n) = padded size of n requests, d₁ = the earliest queued deadline, B = maxBatchSize):
 *
 * | state | condition | next(now)                                                            |
 * |-------|-----------|----------------------------------------------------------------------|
 * | empty | q = 0     | idle                                                                 |
 * | ready | q > 0     | drop every request with now + L(p(1)) > deadline (reason `deadline`); |
 * |       |           | if none is left → empty, idle; otherwise serve the first n, for the   |
 * |       |           | largest n ≤ min(q, B) with now + L(p(n)) ≤ d₁                         |
 * |       |           | (fill `throughput`: then the n among that one and the supported sizes |
 * |       |           | below it with the largest n / L(p(n)), ties to the larger)            |
 *
 * `enqueue` refuses a request that could not be met even if served alone at once (reason
 * `deadline`) or that would exceed `maxQueued` (reason `queue-full`). Since the hopeless requests
 * are dropped first, n = 1 always qualifies, so `next` never answers `wait`. Equal deadlines keep
 * arrival order, then enqueue order.
 */
export class ClockworkPolicy implements BatchingPolicy {
  readonly name = 'clockwork' as const;
  readonly maxBatchSize: number;
  readonly maxQueued: number;
  readonly batchSizes: readonly number[];
  readonly fill: BatchFill;
  private readonly latencyMs: (paddedSize: number) => number;
  private queue: PendingRequest[] = [];
  private readonly queuedIds = new Set<string>();
  private dropped: DroppedRequest[] = [];

  constructor(options: ClockworkOptions) {
    this.batchSizes = supportedBatchSizes(options.batchSizes);
    const largest = this.batchSizes[this.batchSizes.length - 1] as number;
    this.maxBatchSize = options.maxBatchSize ?? largest;
    if (!Number.isSafeInteger(this.maxBatchSize) || this.maxBatchSize < 1 || this.maxBatchSize > largest) {
      throw new InputError(
        `clockwork maxBatchSize must be an integer from 1 to the largest supported batch size (${largest}), got ${this.maxBatchSize}`,
      );
    }
    this.maxQueued = options.maxQueued ?? Infinity;
    if (this.maxQueued !== Infinity && (!Number.isSafeInteger(this.maxQueued) || this.maxQueued < 1)) {
      throw new InputError(`clockwork maxQueued must be a positive integer, got ${this.maxQueued}`);
    }
    this.latencyMs = options.latencyMs;
    this.fill = options.fill ?? 'largest';
    if (!BATCH_FILLS.includes(this.fill)) {
      throw new InputError(
        `clockwork fill must be one of ${BATCH_FILLS.join(', ')}, got ${String(this.fill)}`,
      );
    }
    // Fail at construction, not mid-run, when the profile lacks a size the policy may pick.
    for (const size of this.batchSizes) {
      if (size > (paddedBatchSize(this.maxBatchSize, this.batchSizes) as number)) break;
      this.latencyAt(size);
    }
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
    if (nowMs + this.latencyAt(this.batchSizes[0] as number) > request.deadlineAtMs) {
      this.dropped.push({ request, reason: 'deadline' });
      return { accepted: false, reason: 'deadline' };
    }
    if (this.queue.length >= this.maxQueued) {
      this.dropped.push({ request, reason: 'queue-full' });
      return { accepted: false, reason: 'queue-full' };
    }
    this.queue.splice(this.insertionIndex(request), 0, request);
    this.queuedIds.add(request.id);
    return { accepted: true };
  }

  next(nowMs: number): BatchDecision {
    checkNow(nowMs);
    this.removeHopeless(nowMs);
    const first = this.queue[0];
    if (first === undefined) return { kind: 'idle' };
    const largest = this.largestFeasibleBatch(nowMs, first.deadlineAtMs);
    const count = this.fill === 'throughput' ? this.mostPerMs(largest) : largest;
    const requests = this.queue.splice(0, count);
    for (const request of requests) this.queuedIds.delete(request.id);
    return { kind: 'serve', requests, paddedSize: paddedBatchSize(count, this.batchSizes) as number };
  }

  drainDropped(): DroppedRequest[] {
    const dropped = this.dropped;
    this.dropped = [];
    return dropped;
  }

  /**
   * The largest n whose padded latency meets `earliestDeadlineMs`. Only the padded size matters,
   * so after the largest possible n the candidates are the supported sizes below its padding,
   * each filled completely; latency need not grow with size for this to find the largest.
   */
  private largestFeasibleBatch(nowMs: number, earliestDeadlineMs: number): number {
    const most = Math.min(this.queue.length, this.maxBatchSize);
    const mostPadded = paddedBatchSize(most, this.batchSizes) as number;
    if (nowMs + this.latencyAt(mostPadded) <= earliestDeadlineMs) return most;
    for (let i = this.batchSizes.length - 1; i >= 0; i--) {
      const size = this.batchSizes[i] as number;
      if (size >= mostPadded) continue;
      if (nowMs + this.latencyAt(size) <= earliestDeadlineMs) return size;
    }
    // Unreachable after removeHopeless (n = 1 at the smallest size qualifies); serve one regardless.
    return 1;
  }

  /**
   * Among `largest` and the supported sizes below it, the count that serves the most requests per
   * profiled ms (ties to the larger). Every candidate is no larger than a feasible batch, so it
   * meets the earliest deadline too wherever latency grows with size; one that would not is skipped.
   */
  private mostPerMs(largest: number): number {
    const paddedMs = this.latencyAt(paddedBatchSize(largest, this.batchSizes) as number);
    let best = largest;
    let bestRate = largest / paddedMs;
    for (const size of this.batchSizes) {
      if (size >= largest) break;
      const sizeMs = this.latencyAt(size);
      if (sizeMs > paddedMs) continue;
      const rate = size / sizeMs;
      if (rate > bestRate) {
        best = size;
        bestRate = rate;
      }
    }
    return best;
  }

  /** The queue is in deadline order, so the hopeless requests are exactly a prefix of it. */
  private removeHopeless(nowMs: number): void {
    const aloneMs = this.latencyAt(this.batchSizes[0] as number);
    let cut = 0;
    while (cut < this.queue.length && nowMs + aloneMs > (this.queue[cut] as PendingRequest).deadlineAtMs)
      cut++;
    if (cut === 0) return;
    for (const request of this.queue.splice(0, cut)) {
      this.queuedIds.delete(request.id);
      this.dropped.push({ request, reason: 'deadline' });
    }
  }

  /** Binary search for the slot after every request due no later (ties by arrival, then FIFO). */
  private insertionIndex(request: PendingRequest): number {
    let low = 0;
    let high = this.queue.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const other = this.queue[middle] as PendingRequest;
      const later =
        other.deadlineAtMs > request.deadlineAtMs ||
        (other.deadlineAtMs === request.deadlineAtMs && other.arrivalMs > request.arrivalMs);
      if (later) high = middle;
      else low = middle + 1;
    }
    return low;
  }

  private latencyAt(paddedSize: number): number {
    const latency = this.latencyMs(paddedSize);
    if (!Number.isFinite(latency) || latency < 0) {
      throw new InputError(
        `clockwork latencyMs(${paddedSize}) must be a finite number of ms ≥ 0, got ${latency}; profile every supported batch size`,
      );
    }
    return latency;
  }
}
