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

  it('holds the constraint it is given: at 0.95 it lowers only once agreement falls below 0.95', () => {
    // Given a guard at 0.95 and a window where ramp c1 disagrees with the final answer on 1 input in 25 (96%)
    const guard = new LocalGuard({ constraint: 0.95, minInputs: 10 });
    const confident = (n: number) => [new Float32Array(n).fill(0.9), new Float32Array(n).fill(0.95)];
    const wrongEvery = (n: number, every: number) => [
      Uint8Array.from({ length: n }, (_, i) => (i % every === 0 ? 0 : 1)),
      new Uint8Array(n).fill(1),
    ];

    // When the batch is observed
    const kept = guard.observe(config, confident(100), wrongEvery(100, 25));

    // Then nothing is lowered: 96% meets 0.95, though it would miss the default 0.99
    expect(kept.agreement).toBeCloseTo(0.96, 5);
    expect(kept.lowered).toBeUndefined();
    expect(guard.thresholdsFor(config)).toEqual([0.5, 0.5]);

    // When a harder batch brings the window to 1 wrong in 10 on c1 (the window then holds both)
    const lowered = guard.observe(config, confident(300), wrongEvery(300, 10));

    // Then the thresholds come down until the window meets 0.95
    expect(lowered.lowered).toBeDefined();
    expect(guard.thresholdsFor(config)[0]).toBeLessThan(0.5);
    expect(lowered.agreement).toBeGreaterThanOrEqual(0.95);
  });
});
