/**
 * A ramp's held-out exit share: its linear layer applied to the held-out rows, its threshold tuned
 * alone at the constraint, the share of rows it then releases.
 */
import { heldOutExitShare, type HeldOutRamp } from '../../core/prepare/exit-shares';

/** One feature, two classes: class 1 for a positive feature, more confident the larger it is. */
function ramp(rows: readonly number[]): HeldOutRamp {
  const values = [5, 4, 3, 2, 1, -1, -2, -3, -4, -5];
  // The full model agrees with the ramp everywhere but at the least confident positive row.
  const labels = values.map((v) => (v === 1 ? 0 : v > 0 ? 1 : 0));
  return {
    features: Float32Array.from(values),
    featureSize: 1,
    weights: Float32Array.from([-1, 1]),
    bias: Float32Array.from([0, 0]),
    labels,
    rows,
    latencyFraction: 0.3,
  };
}

describe('held-out exit share', () => {
  const all = Array.from({ length: 10 }, (_, i) => i);

  it('releases only what keeps every released answer right when no disagreement is allowed', () => {
    // The wrong row and the equally confident negative one stay; the eight surer ones leave
    expect(heldOutExitShare(ramp(all), 1)).toBeCloseTo(0.8, 6);
  });

  it('releases everything when the one wrong answer still leaves the window at the constraint', () => {
    expect(heldOutExitShare(ramp(all), 0.9)).toBeCloseTo(1, 6);
  });

  it('judges only the held-out rows it is given', () => {
    // Rows 0-3 (features 5..2) are all right: every one of them is released
    expect(heldOutExitShare(ramp([0, 1, 2, 3]), 1)).toBeCloseTo(1, 6);
    expect(heldOutExitShare(ramp([]), 0.99)).toBe(0);
  });
});
