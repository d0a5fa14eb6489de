/**
 * What the controller learns from exit-log items. Every request's log holds the confidence and
 * prediction of each ramp that was active for it, beside the full model's prediction, so a ramp's
 * observations do not depend on which other ramps were active or on the thresholds in force. Two
 * uses follow, with different needs:
 *
 * - Threshold tuning needs, per input, an observation from every ramp of the current config. Any
 *   request whose ramps include all of them will do, whatever config version it ran under (a
 *   superset of ramps, older thresholds): its columns for the current ramps are selected.
 * - Served agreement and ramp utility describe what a config actually did (where inputs left, and
 *   whether the released answer agreed), so they only take requests that ran with exactly the
 *   current ramp set; a different set would have sent inputs to different exits.
 *
 * Requests of any other ramp set are counted and otherwise left alone.
 */
import { FINAL_EXIT, type ExitLogItem } from '../../core/serving/exit-log-item';
import type { ExitWindow } from '../../core/control/records';
import type { ServedBatch } from '../../core/control/scheduled-decision';

/** The newest inputs observed by every current ramp, in time order, for the tuner. */
export interface TuningEvidence {
  readonly window: ExitWindow;
  /** The padded batch size each of the window's inputs ran at. */
  readonly paddedSizes: readonly number[];
  /** Requests read whose ramps do not include every current ramp. */
  readonly otherRampSetRequests: number;
}

/**
 * Builds the tuning window from logs (oldest first, as the reader returns them): the newest
 * `maxInputs` requests whose ramps include every id of `rampIds`, with those ramps' columns in the
 * order of `rampIds`. Agreement is the ramp's prediction against the full model's.
 */
export function tuningEvidence(
  logs: readonly ExitLogItem[],
  rampIds: readonly string[],
  maxInputs: number,
): TuningEvidence {
  const rows: { confidence: number[]; agrees: number[]; paddedSize: number }[] = [];
  let other = 0;
  for (let b = logs.length - 1; b >= 0; b--) {
    const batch = logs[b] as ExitLogItem;
    for (let r = batch.requests.length - 1; r >= 0; r--) {
      const request = batch.requests[r] as ExitLogItem['requests'][number];
      const byId = new Map(request.ramps.map((ramp) => [ramp.id, ramp]));
      const observed = rampIds.map((id) => byId.get(id));
      if (observed.some((ramp) => ramp === undefined)) {
        other += 1;
        continue;
      }
      if (rows.length >= maxInputs) continue;
      rows.push({
        confidence: observed.map((ramp) => ramp?.confidence ?? 0),
        agrees: observed.map((ramp) => (ramp?.prediction === request.finalPrediction ? 1 : 0)),
        paddedSize: batch.paddedSize,
      });
    }
  }
  rows.reverse();
  const confidence = rampIds.map((_, k) => Float32Array.from(rows, (row) => row.confidence[k] as number));
  const agrees = rampIds.map((_, k) => Uint8Array.from(rows, (row) => row.agrees[k] as number));
  return {
    window: { count: rows.length, confidence, agrees },
    paddedSizes: rows.map((row) => row.paddedSize),
    otherRampSetRequests: other,
  };
}

/**
 * The batches (oldest first) as served with exactly the ramps `rampIds`, in that order: how many
 * agreed and where they left. Requests of a batch that ran with another ramp set are left out.
 */
export function servedBatches(logs: readonly ExitLogItem[], rampIds: readonly string[]): ServedBatch[] {
  const result: ServedBatch[] = [];
  const indexOf = new Map(rampIds.map((id, k) => [id, k]));
  for (const batch of logs) {
    const exitCounts = new Array<number>(rampIds.length + 1).fill(0);
    let inputs = 0;
    let correct = 0;
    for (const request of batch.requests) {
      const sameSet =
        request.ramps.length === rampIds.length && request.ramps.every((ramp, k) => ramp.id === rampIds[k]);
      if (!sameSet) continue;
      inputs += 1;
      if (request.exit === FINAL_EXIT) {
        exitCounts[rampIds.length] = (exitCounts[rampIds.length] as number) + 1;
        correct += 1;
        continue;
      }
      // The log schema guarantees the exit names one of the request's ramps.
      const k = indexOf.get(request.exit) as number;
      exitCounts[k] = (exitCounts[k] as number) + 1;
      if (request.ramps[k]?.prediction === request.finalPrediction) correct += 1;
    }
    if (inputs > 0) result.push({ inputs, correct, paddedSize: batch.paddedSize, exitCounts });
  }
  return result;
}

/** The median of the padded sizes (the lower middle one), or `fallback` when there are none. */
export function typicalBatchSize(paddedSizes: readonly number[], fallback: number): number {
  if (paddedSizes.length === 0) return fallback;
  const sorted = [...paddedSizes].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] as number;
}
