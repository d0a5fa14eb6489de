/**
 * How many inputs a ramp would release at the accuracy constraint on its own: its out-of-fold
 * observations on the bootstrap (cross-fitted.ts) with its threshold tuned alone by the
 * controller's own tuner. The initial placement weighs depth by this share where sets cannot be
 * judged jointly (joint-saving.ts): a shallow ramp that releases few inputs saves less than a
 * deeper one that releases most, and a deep ramp that releases everything still saves only what
 * is left of the model after it. It only ranks placements; the threshold tuner sets the served
 * thresholds on live traffic.
 */
import { tuneThresholds } from '../control/threshold-tuner';
import { windowFromColumns } from '../control/records';
import type { RampObservations } from './joint-saving';

/** Share of the observed inputs the ramp releases at `constraint` (0 when none are observed). */
export function exitShare(
  observations: RampObservations,
  latencyFraction: number,
  constraint: number,
): number {
  if (observations.confidence.length === 0) return 0;
  const tuned = tuneThresholds(
    windowFromColumns([observations.confidence], [observations.agrees]),
    // Any exit saves time here, which is all the tuner needs to release as much as it may.
    { exitMs: [latencyFraction], finalMs: 1, plainMs: 1, rampMs: [0] },
    { constraint },
  );
  return tuned.evaluation.exitRates[0] ?? 0;
}
