import { ReleaseGate } from '../../../gpu-worker/inference/release-gate';

/** Probabilities of `rows` rows over two classes, each row's top class at the given confidence. */
function rowsAt(...confidences: number[]): Float32Array {
  return Float32Array.from(confidences.flatMap((c) => [c, 1 - c]));
}

describe('release gate', () => {
  it('without thresholds lets every ramp output through', () => {
    // Given a gate for a batch run without thresholds
    const gate = new ReleaseGate(undefined, 2);

    // When ramps report outputs that would release nothing under any threshold
    // Then each is let through at once
    expect(gate.releasesAny(0, rowsAt(0.5, 0.5))).toBe(true);
    expect(gate.releasesAny(1, rowsAt(0.5, 0.5))).toBe(true);
  });

  it('lets an output through only when it releases a row no earlier ramp released', () => {
    // Given thresholds 0.1 (a row leaves above 0.9 confidence) and 0.3 (above 0.7)
    const gate = new ReleaseGate([0.1, 0.3], 3);

    // When the first ramp is sure of row 0 only, and the second of rows 0 and 1
    const shallow = gate.releasesAny(0, rowsAt(0.95, 0.8, 0.6));
    const deep = gate.releasesAny(1, rowsAt(0.99, 0.75, 0.6));

    // Then both release a row (row 0, then row 1)
    expect(shallow).toBe(true);
    expect(deep).toBe(true);
  });

  it('holds an output whose confident rows have all left already, and one with no confident row', () => {
    // Given thresholds 0.2 at both ramps and a first ramp that releases rows 0 and 1
    const gate = new ReleaseGate([0.2, 0.2], 3);
    expect(gate.releasesAny(0, rowsAt(0.9, 0.85, 0.6))).toBe(true);

    // When the second ramp is confident only of the rows already released
    // Then it releases nothing new
    expect(gate.releasesAny(1, rowsAt(0.99, 0.99, 0.7))).toBe(false);
  });

  it('applies the exit rule at its edge as the main thread does, and 0 or a missing threshold never releases', () => {
    // Given a row at confidence 0.75, exactly 1 - 0.25 (float32 holds both exactly)
    // When the threshold is 0.25 (1 - 0.75 < 0.25 is false), 0.2500001, 0, or missing
    // Then only the threshold above the edge releases it
    expect(new ReleaseGate([0.25], 1).releasesAny(0, rowsAt(0.75))).toBe(false);
    expect(new ReleaseGate([0.2500001], 1).releasesAny(0, rowsAt(0.75))).toBe(true);
    expect(new ReleaseGate([0], 1).releasesAny(0, rowsAt(1))).toBe(false);
    expect(new ReleaseGate([], 1).releasesAny(0, rowsAt(1))).toBe(false);
  });
});
