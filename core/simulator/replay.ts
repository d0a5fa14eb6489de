/**
 * The replay engine: a discrete-event simulation of one worker serving a stream under a batching
 * policy. Arrivals come from a trace or a Poisson process; the batching policy (the same state
 * machine the worker uses) decides what runs; the serving policy says, for each batch, when each
 * input's answer is released and how long the batch occupies the executor. Ramp overheads lengthen
 * batches and so feed back into queueing, unlike a replay that borrows the plain model's schedule.
 */
import type { BatchingPolicy, PendingRequest } from '../batching/policy';

/** What a serving policy returns for one batch. */
export interface BatchOutcome {
  /** Time the batch occupies the executor, in ms. */
  readonly batchMs: number;
  /** Per input (in batch order): time from batch start until its answer is released. */
  readonly releaseMs: readonly number[];
  /** Per input: index of the candidate it exited at, or -1 for the final output. */
  readonly exitAt: readonly number[];
  /** Per input: whether the released answer equals the full model's. */
  readonly agrees: readonly boolean[];
}

/** A serving policy: plain, Apparate, a baseline. Stateful across batches (control loops). */
export interface ServingPolicy {
  readonly name: string;
  /** Profiled batch latency the batching policy should plan with for a padded size (current config). */
  plannedBatchMs(paddedSize: number): number;
  serveBatch(streamIndices: readonly number[], paddedSize: number, nowMs: number): BatchOutcome;
  /** Counters reported at the end (threshold updates, ramp changes). */
  counters(): { thresholdUpdates: number; rampChanges: number; configChanges: readonly number[] };
}

export interface RequestOutcome {
  readonly streamIndex: number;
  readonly arrivalMs: number;
  /** Undefined when the request was dropped. */
  readonly startMs?: number;
  readonly releaseAtMs?: number;
  readonly exitAt?: number;
  readonly agrees?: boolean;
  readonly dropped?: 'deadline' | 'queue-full';
}

export interface ReplayInput {
  /** Arrival times in ms, ascending; request i serves stream input `streamIndex(i)`. */
  readonly arrivalsMs: ArrayLike<number>;
  readonly streamIndex: (request: number) => number;
  readonly sloMs: number;
  readonly batching: BatchingPolicy;
  readonly serving: ServingPolicy;
}

/** Runs the simulation to completion and returns one outcome per request, in arrival order. */
export function replay(input: ReplayInput): RequestOutcome[] {
  const { arrivalsMs, batching, serving } = input;
  const total = arrivalsMs.length;
  const outcomes: RequestOutcome[] = Array.from({ length: total }, (_, i) => ({
    streamIndex: input.streamIndex(i),
    arrivalMs: arrivalsMs[i] as number,
  }));
  const recordDrops = () => {
    for (const { request, reason } of batching.drainDropped()) {
      const index = Number(request.id);
      outcomes[index] = { ...(outcomes[index] as RequestOutcome), dropped: reason };
    }
  };
  let now = 0;
  let next = 0;
  for (;;) {
    while (next < total && (arrivalsMs[next] as number) <= now) {
      const arrivalMs = arrivalsMs[next] as number;
      const request: PendingRequest = { id: String(next), arrivalMs, deadlineAtMs: arrivalMs + input.sloMs };
      batching.enqueue(request, Math.max(arrivalMs, 0));
      next++;
    }
    const decision = batching.next(now);
    recordDrops();
    if (decision.kind === 'serve') {
      const indices = decision.requests.map((r) => outcomes[Number(r.id)]?.streamIndex as number);
      const outcome = serving.serveBatch(indices, decision.paddedSize, now);
      decision.requests.forEach((request, k) => {
        const index = Number(request.id);
        outcomes[index] = {
          ...(outcomes[index] as RequestOutcome),
          startMs: now,
          releaseAtMs: now + (outcome.releaseMs[k] as number),
          exitAt: outcome.exitAt[k],
          agrees: outcome.agrees[k],
        };
      });
      now += outcome.batchMs;
      continue;
    }
    if (next >= total && decision.kind === 'idle') break;
    const nextArrival = next < total ? (arrivalsMs[next] as number) : Number.POSITIVE_INFINITY;
    const wakeAt = decision.kind === 'wait' ? Math.min(decision.untilMs, nextArrival) : nextArrival;
    if (!Number.isFinite(wakeAt)) break;
    // A policy that asks to wait until now (or earlier) would spin; time must move forward.
    now = wakeAt > now ? wakeAt : now + 1e-3;
  }
  recordDrops();
  return outcomes;
}
