/**
 * How many inputs a ramp would release at the accuracy constraint, judged on the bootstrap inputs
 * held out from its training: its ramp (pooled features, one linear layer) is applied to them, and
 * its threshold tuned alone with the controller's own tuner. The initial placement weighs depth
 * by this share: a shallow ramp that releases few inputs saves less than a deeper one that
 * releases most, and a deep ramp that releases everything still saves only what is left of the
 * model after it.
 *
 * The held-out part is small (a tenth of the bootstrap), so a share is coarse; it only ranks
 * placements, and the threshold tuner sets the served thresholds on live traffic.
 */
import { tuneThresholds } from '../control/threshold-tuner';
import { windowFromColumns } from '../control/records';
import { applyRamp } from '../simulator/observations';

/** One trained ramp and the bootstrap data it was trained on. */
export interface HeldOutRamp {
  /** Row-major [count, featureSize] pooled features of every bootstrap input. */
  readonly features: Float32Array;
  readonly featureSize: number;
  /** Row-major [featureSize, classes], applying to the raw features. */
  readonly weights: Float32Array;
  readonly bias: Float32Array;
  /** The full model's prediction per bootstrap input. */
  readonly labels: ArrayLike<number>;
  /** The rows held out from training. */
  readonly rows: ArrayLike<number>;
  /** Where the ramp sits, as a share of the plain model's time. */
  readonly latencyFraction: number;
}

/** The ramp's confidence (top softmax probability) and whether it agrees with the label, per row. */
function observe(ramp: HeldOutRamp): { confidence: Float32Array; agrees: Uint8Array } {
  const confidence = new Float32Array(ramp.rows.length);
  const agrees = new Uint8Array(ramp.rows.length);
  for (let i = 0; i < ramp.rows.length; i++) {
    const row = ramp.rows[i] as number;
    const out = applyRamp(ramp.features, row * ramp.featureSize, ramp.featureSize, ramp.weights, ramp.bias);
    confidence[i] = out.confidence;
    agrees[i] = out.prediction === ramp.labels[row] ? 1 : 0;
  }
  return { confidence, agrees };
}

/** Share of the held-out inputs the ramp releases at `constraint` (0 when none are held out). */
export function heldOutExitShare(ramp: HeldOutRamp, constraint: number): number {
  if (ramp.rows.length === 0) return 0;
  const { confidence, agrees } = observe(ramp);
  const tuned = tuneThresholds(
    windowFromColumns([confidence], [agrees]),
    // Any exit saves time here, which is all the tuner needs to release as much as it may.
    { exitMs: [ramp.latencyFraction], finalMs: 1, plainMs: 1, rampMs: [0] },
    { constraint },
  );
  return tuned.evaluation.exitRates[0] ?? 0;
}
