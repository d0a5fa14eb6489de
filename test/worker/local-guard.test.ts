import { LocalGuard } from '../../gpu-worker/local-guard';

describe('the local guard', () => {
  const config = {
    version: 3,
    ramps: [
      { id: 'c1', threshold: 0.5 },
      { id: 'c3', threshold: 0.5 },
    ],
  };

  it('lowers thresholds at once when the window falls under the constraint', () => {
    // Given a window where ramp c1 exits confidently but disagrees with the final answer on a fifth of inputs
    const guard = new LocalGuard({ constraint: 0.99, minInputs: 10 });
    const confidence = [new Float32Array(50).fill(0.9), new Float32Array(50).fill(0.95)];
    const agrees = [
      Uint8Array.from({ length: 50 }, (_, i) => (i % 5 === 0 ? 0 : 1)),
      new Uint8Array(50).fill(1),
    ];

    // When the batch is observed
    const verdict = guard.observe(config, confidence, agrees);

    // Then the thresholds in force for this version are lower, never higher, and meet the constraint
    expect(verdict.lowered).toBeDefined();
    const lowered = guard.thresholdsFor(config);
    expect(lowered[0]).toBeLessThan(0.5);
    expect(lowered[1]).toBeLessThanOrEqual(0.5);
    expect(verdict.agreement).toBeGreaterThanOrEqual(0.99);
  });

  it('leaves thresholds alone while the window meets the constraint, and a new version replaces its own', () => {
    // Given a window where every early answer agrees
    const guard = new LocalGuard({ minInputs: 10 });
    const verdict = guard.observe(
      config,
      [new Float32Array(20).fill(0.9), new Float32Array(20).fill(0.9)],
      [new Uint8Array(20).fill(1), new Uint8Array(20).fill(1)],
    );
    // Then nothing is lowered
    expect(verdict.lowered).toBeUndefined();
    expect(guard.thresholdsFor(config)).toEqual([0.5, 0.5]);
    // And a newer config's thresholds apply as published
    const newer = { version: 4, ramps: [{ id: 'c2', threshold: 0.7 }] };
    expect(guard.thresholdsFor(newer)).toEqual([0.7]);
  });
});
