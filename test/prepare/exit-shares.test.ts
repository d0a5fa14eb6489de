/**
 * A ramp's exit share on its own: its threshold tuned alone at the constraint on its observations,
 * the share of inputs it then releases.
 */
import { exitShare } from '../../core/prepare/exit-shares';
import type { RampObservations } from '../../core/prepare/joint-saving';

/** Ten inputs, surest first; the ramp disagrees with the full model on the seventh only. */
function observations(count = 10): RampObservations {
  const confidence = Float32Array.from(
    [0.99, 0.98, 0.97, 0.96, 0.95, 0.94, 0.93, 0.92, 0.91, 0.9].slice(0, count),
  );
  const agrees = Uint8Array.from([1, 1, 1, 1, 1, 1, 0, 1, 1, 1].slice(0, count));
  return { confidence, agrees };
}

describe('exit share', () => {
  it('releases only what keeps every released answer right when no disagreement is allowed', () => {
    // The six inputs surer than the wrong one leave; the wrong one and the four below it stay.
    expect(exitShare(observations(), 0.3, 1)).toBeCloseTo(0.6, 6);
  });

  it('releases everything when the one wrong answer still leaves the window at the constraint', () => {
    expect(exitShare(observations(), 0.3, 0.9)).toBeCloseTo(1, 6);
  });

  it('releases nothing from no observations', () => {
    expect(exitShare(observations(0), 0.3, 0.99)).toBe(0);
  });
});
