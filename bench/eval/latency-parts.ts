/**
 * Where a served request's time goes: waiting for its batch to start (the queue and the batching
 * policy), then from its batch's start to its first answer reaching the client (the batch's own
 * run up to the exit that released it, and the channel back, of which the way out of the serving
 * process, from its release to the client, is measured on its own). Early release can only shorten the
 * second part; a policy whose batches keep the lanes busier than the plain model's lengthens the
 * first for everyone queued behind them. Comparing the two parts across the policies of one repeat
 * says which of the two decided a win, which the latency quantiles alone cannot.
 */
import type { RequestOutcome } from '../../core/simulator/replay';
import { maxOf, median } from '../../core/util/stats';
import type { LatencyParts } from './results';
import type { BatchRecord, RequestRecord } from './worker-run';

/**
 * The parts of a run's latency, from its batches and the outcome of every request (indexed as the
 * batches' `requests` are). The optimal is replayed on the plain run's batches, so it passes those
 * with its own releases. Null when the run served nothing.
 */
export function latencyParts(
  batches: readonly BatchRecord[],
  outcomes: readonly RequestOutcome[],
  records?: readonly RequestRecord[],
): LatencyParts | null {
  const waits: number[] = [];
  const inBatch: number[] = [];
  let batchMs = 0;
  let requests = 0;
  for (const batch of batches) {
    batchMs += maxOf(batch.finalAfterStartMs, 0);
    requests += batch.requests.length;
    for (const index of batch.requests) {
      const outcome = outcomes[index];
      if (outcome?.releaseAtMs === undefined) continue;
      waits.push(batch.startMs - outcome.arrivalMs);
      inBatch.push(outcome.releaseAtMs - batch.startMs);
    }
  }
  if (waits.length === 0) return null;
  const delivery = (records ?? [])
    .map((record) => record.releaseMs - record.servedReleaseMs)
    .filter((ms) => Number.isFinite(ms));
  return {
    waitP50Ms: median(waits),
    inBatchP50Ms: median(inBatch),
    batchMsPerRequest: batchMs / requests,
    ...(delivery.length > 0 ? { deliveryP50Ms: median(delivery) } : {}),
  };
}
