/**
 * A minimal discrete-event loop for tests: one executor, arrivals enqueued at their own times, the
 * policy asked for a decision whenever the executor is free, a batch taking its profiled latency.
 * It records everything the invariant checks need, and nothing about how a real worker runs.
 */
import type { BatchingPolicy, DroppedRequest, PendingRequest } from '../../core/batching/policy';

export interface ServedBatch {
  readonly startMs: number;
  readonly endMs: number;
  readonly paddedSize: number;
  readonly requests: readonly PendingRequest[];
}

export interface DriveResult {
  readonly batches: readonly ServedBatch[];
  readonly dropped: readonly DroppedRequest[];
  /** The most requests ever waiting in the policy's queue at once. */
  readonly peakQueued: number;
}

/** Replays `arrivals` (sorted by arrivalMs) through `policy` until everything is served or dropped. */
export function drivePolicy(
  policy: BatchingPolicy,
  arrivals: readonly PendingRequest[],
  latencyMs: (paddedSize: number) => number,
): DriveResult {
  const batches: ServedBatch[] = [];
  const dropped: DroppedRequest[] = [];
  let peakQueued = 0;
  let nowMs = 0;
  let nextArrival = 0;
  for (let step = 0; step < 10 * arrivals.length + 10; step++) {
    while (nextArrival < arrivals.length && (arrivals[nextArrival] as PendingRequest).arrivalMs <= nowMs) {
      const request = arrivals[nextArrival++] as PendingRequest;
      policy.enqueue(request, request.arrivalMs);
      peakQueued = Math.max(peakQueued, policy.queued);
    }
    const decision = policy.next(nowMs);
    dropped.push(...policy.drainDropped());
    const upcomingMs = arrivals[nextArrival]?.arrivalMs ?? Infinity;
    if (decision.kind === 'serve') {
      const endMs = nowMs + latencyMs(decision.paddedSize);
      batches.push({ startMs: nowMs, endMs, paddedSize: decision.paddedSize, requests: decision.requests });
      nowMs = endMs;
    } else if (decision.kind === 'wait') {
      if (decision.untilMs <= nowMs) throw new Error(`wait until ${decision.untilMs} is not after ${nowMs}`);
      nowMs = Math.min(decision.untilMs, upcomingMs);
    } else if (upcomingMs === Infinity) {
      return { batches, dropped, peakQueued };
    } else {
      nowMs = upcomingMs;
    }
  }
  throw new Error('the policy did not finish within the step limit');
}
