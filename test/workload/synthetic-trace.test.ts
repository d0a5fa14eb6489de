import { InputError } from '../../core/errors';
import { syntheticTrace } from '../../core/workload/synthetic-trace';

const hourMean = (counts: Uint32Array, day: number, hour: number): number => {
  const from = day * 86_400 + hour * 3600;
  let sum = 0;
  for (let s = from; s < from + 3600; s++) sum += counts[s] as number;
  return sum / 3600;
};

describe('the synthetic trace', () => {
  it('is the same on every run, whole days of seconds', () => {
    const a = syntheticTrace({ days: 1 });
    expect(a).toHaveLength(86_400);
    expect(syntheticTrace({ days: 1 })).toEqual(a);
    expect(syntheticTrace({ days: 1, seed: 7 })).not.toEqual(a);
  });

  it('runs through a daily cycle, quiet at midnight and busy at noon, around its mean', () => {
    const counts = syntheticTrace({ days: 2, meanRps: 64, depth: 0.6 });
    for (const day of [0, 1]) {
      const midnight = hourMean(counts, day, 0);
      const noon = hourMean(counts, day, 12);
      expect(noon).toBeGreaterThan(2.5 * midnight);
      // The morning rises hour by hour
      expect(hourMean(counts, day, 6)).toBeGreaterThan(hourMean(counts, day, 2));
    }
    const mean = counts.reduce((a, b) => a + b, 0) / counts.length;
    expect(mean).toBeGreaterThan(50);
    expect(mean).toBeLessThan(80);
  });

  it('refuses settings outside their ranges, naming them', () => {
    expect(() => syntheticTrace({ days: 0 })).toThrow(InputError);
    expect(() => syntheticTrace({ days: 0 })).toThrow('days must be a whole number from 1 to 61, got 0');
    expect(() => syntheticTrace({ depth: 1 })).toThrow('depth must be in [0, 1), got 1');
    expect(() => syntheticTrace({ meanRps: 0 })).toThrow('meanRps must be above 0');
  });
});
