/**
 * From a real run's records to the figures the evaluation reports, through the simulator's own
 * metrics (`summarise`, `winsVersus`), so a measured run and a replay are summarised by the same
 * code: latency quantiles of served requests from planned arrival to first answer, agreement of
 * released answers with the plain model overall and over its worst 512-request window, exit rate
 * and throughput. Also the offline optimal over the same requests: the plain run's own batches,
 * with each input released at the first candidate that agrees with the final answer, at that
 * candidate's share of the batch's measured time (the paper's "optimal exiting": same schedule,
 * no ramp costs, capped at the plain latency).
 */
import { offlineOptimal } from '../../core/control/baselines';
import type { ExitWindow } from '../../core/control/records';
import { summarise, winsVersus, type PolicySummary } from '../../core/simulator/metrics';
import type { RequestOutcome } from '../../core/simulator/replay';
import { batchWindow } from '../../core/simulator/serving-policies';
import { maxOf } from '../../core/util/stats';
import type { PlannedRequest } from './workload';
import type { ServingRunResult } from './worker-run';

/** The outcome of every request of a run, in arrival order, as the simulator's metrics take them. */
export function runOutcomes(run: ServingRunResult, planned: readonly PlannedRequest[]): RequestOutcome[] {
  return run.requests.map((record, i) => {
    const streamIndex = (planned[i] as PlannedRequest).streamIndex;
    if (record.dropped || Number.isNaN(record.releaseMs)) {
      return { streamIndex, arrivalMs: record.arrivalMs, dropped: 'deadline' as const };
    }
    return {
      streamIndex,
      arrivalMs: record.arrivalMs,
      releaseAtMs: record.releaseMs,
      exitAt: record.early ? 0 : -1,
      agrees: record.releasedClass === record.finalClass,
    };
  });
}

/** Share of served requests whose released answer matches the data set's label. */
export function labelAccuracy(
  run: ServingRunResult,
  planned: readonly PlannedRequest[],
  labels: ArrayLike<number>,
  released: 'released' | 'final' = 'released',
): number {
  let served = 0;
  let correct = 0;
  run.requests.forEach((record, i) => {
    if (record.dropped || Number.isNaN(record.releaseMs)) return;
    const label = labels[(planned[i] as PlannedRequest).streamIndex];
    served += 1;
    if ((released === 'final' ? record.finalClass : record.releasedClass) === label) correct += 1;
  });
  return correct / Math.max(1, served);
}

/**
 * The offline optimal over the requests of a plain run: per batch, the simulator's
 * `offlineOptimal` on every candidate's observations of the batch's inputs, with each candidate's
 * backbone time its latency fraction of the batch's measured time to its final answers.
 */
export function optimalOutcomes(
  plainRun: ServingRunResult,
  planned: readonly PlannedRequest[],
  all: ExitWindow,
  latencyFractions: readonly number[],
): RequestOutcome[] {
  const outcomes = runOutcomes(plainRun, planned);
  for (const batch of plainRun.batches) {
    const indices = batch.requests.map((i) => (planned[i] as PlannedRequest).streamIndex);
    const batchMs = maxOf(batch.finalAfterStartMs);
    const served = offlineOptimal(batchWindow(all, indices), {
      backboneMs: latencyFractions.map((f) => f * batchMs),
      plainMs: batchMs,
    });
    batch.requests.forEach((request, k) => {
      const outcome = outcomes[request] as RequestOutcome;
      if (outcome.releaseAtMs === undefined) return;
      const releaseAtMs = Math.min(outcome.releaseAtMs, batch.startMs + (served.latencyMs[k] as number));
      outcomes[request] = { ...outcome, releaseAtMs, exitAt: served.exitIndex[k], agrees: true };
    });
  }
  return outcomes;
}

/** One policy in one run, compared with the plain model in the same repeat. */
export interface RunFigures extends PolicySummary {
  readonly winsVsPlainPct: { p25: number; p50: number; p95: number };
  readonly throughputRatio: number;
  /** Share of the offline optimal's median saving reached; null when the optimal saves nothing. */
  readonly fractionOfOptimal: number | null;
}

/** Figures of every policy of one repeat, given their outcomes (the plain model's under 'plain'). */
export function repeatFigures(
  outcomes: ReadonlyMap<string, readonly RequestOutcome[]>,
): Map<string, RunFigures> {
  const summaries = new Map([...outcomes].map(([name, list]) => [name, summarise(name, list)]));
  const plain = summaries.get('plain');
  if (plain === undefined) throw new Error('every repeat needs a plain run');
  const optimal = summaries.get('optimal');
  const optimalSaving = optimal === undefined ? 0 : plain.latencyMs.p50 - optimal.latencyMs.p50;
  const figures = new Map<string, RunFigures>();
  for (const [name, summary] of summaries) {
    figures.set(name, {
      ...summary,
      winsVsPlainPct: winsVersus(summary.latencyMs, plain.latencyMs),
      throughputRatio: summary.throughputRps / plain.throughputRps,
      fractionOfOptimal:
        optimalSaving > 0 ? (plain.latencyMs.p50 - summary.latencyMs.p50) / optimalSaving : null,
    });
  }
  return figures;
}
