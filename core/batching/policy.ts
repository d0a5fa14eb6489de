/**
 * The contract every batching policy keeps, so that one policy object can drive both the real
 * worker (wall-clock milliseconds) and the replay simulator (virtual milliseconds). Policies are
 * pure state machines: they own a queue and nothing else, never read a clock or set a timer, and
 * learn the time only from the `nowMs` their caller passes in. All times a caller passes (request
 * arrivals, deadlines, `nowMs`) must be on one clock.
 */
import { InputError } from '../errors';

/** The names users select a policy by (CLI flags, configuration files). */
export const BATCHING_POLICY_NAMES = ['tfserving', 'clockwork'] as const;
export type BatchingPolicyName = (typeof BATCHING_POLICY_NAMES)[number];

/** Padded batch sizes profiled by default; a batch of n runs at the smallest of these ≥ n. */
export const DEFAULT_BATCH_SIZES: readonly number[] = [1, 2, 4, 8, 16, 32];

export interface PendingRequest {
  readonly id: string;
  /** When the request reached the service, in ms on the caller's clock. */
  readonly arrivalMs: number;
  /** When its answer is due, in ms on the same clock; `Infinity` for no deadline. */
  readonly deadlineAtMs: number;
}

export type BatchDecision =
  | { readonly kind: 'serve'; readonly requests: readonly PendingRequest[]; readonly paddedSize: number }
  /** Nothing is to be served before `untilMs` unless a new request arrives first. */
  | { readonly kind: 'wait'; readonly untilMs: number }
  /** The queue is empty. */
  | { readonly kind: 'idle' };

export type DropReason = 'deadline' | 'queue-full';

export interface DroppedRequest {
  readonly request: PendingRequest;
  readonly reason: DropReason;
}

export interface EnqueueResult {
  readonly accepted: boolean;
  /** Why a request was refused; absent when accepted. */
  readonly reason?: string;
}

export interface BatchingPolicy {
  readonly name: BatchingPolicyName;
  /**
   * Offers a request to the queue. A refused request caused by load or its deadline is also
   * reported once by `drainDropped()`, so a caller may answer refusals either here or there.
   */
  enqueue(request: PendingRequest, nowMs: number): EnqueueResult;
  /**
   * Called when the executor is free. Removes and returns what to run now, or says how long to
   * wait. Requests that can no longer meet their deadline are removed and reported by drainDropped().
   */
  next(nowMs: number): BatchDecision;
  /** Every request given up since the last call, each reported exactly once. */
  drainDropped(): DroppedRequest[];
  /** Requests currently waiting in the queue. */
  readonly queued: number;
}

/**
 * Rejects requests whose times would make the policies' arithmetic meaningless (NaN compares
 * false with everything, so a NaN deadline would silently never expire).
 */
export function checkPendingRequest(request: PendingRequest): void {
  if (typeof request.id !== 'string' || request.id.length === 0) {
    throw new InputError('a pending request needs a non-empty string id');
  }
  if (!Number.isFinite(request.arrivalMs)) {
    throw new InputError(
      `request ${request.id}: arrivalMs must be a finite number, got ${request.arrivalMs}`,
    );
  }
  if (Number.isNaN(request.deadlineAtMs) || request.deadlineAtMs === -Infinity) {
    throw new InputError(
      `request ${request.id}: deadlineAtMs must be a finite number or Infinity, got ${request.deadlineAtMs}`,
    );
  }
}

/** Guards every entry point that takes the time, for the same reason as checkPendingRequest. */
export function checkNow(nowMs: number): void {
  if (!Number.isFinite(nowMs)) throw new InputError(`nowMs must be a finite number, got ${nowMs}`);
}
