import { InputError } from '../../core/errors';
import { bestThroughput, capacityRps, rateForLoad } from '../../core/workload/load';

describe('capacity and load', () => {
  it('takes capacity at the batch size with the best throughput', () => {
    // Given a profile where throughput peaks at 16 (16 / 20 ms = 800/s) and falls at 32
    const profile: Record<number, number> = { 1: 2, 4: 6, 8: 11, 16: 20, 32: 45 };
    const latencyMs = (size: number): number => profile[size] ?? Number.NaN;

    expect(bestThroughput([1, 4, 8, 16, 32], latencyMs)).toEqual({ batchSize: 16, rps: 800 });
    expect(capacityRps([1, 4, 8, 16, 32], latencyMs)).toBe(800);
  });

  it('turns a load factor into a target rate', () => {
    expect(rateForLoad(0.7, 800)).toBeCloseTo(560, 9);
  });

  it('refuses profiles and factors that give no capacity', () => {
    expect(() => capacityRps([], () => 1)).toThrow(/at least one/);
    expect(() => capacityRps([1, 2], (size) => (size === 2 ? Number.NaN : 1))).toThrow(
      /latency at batch size 2 must be a positive number of ms, got NaN/,
    );
    expect(() => rateForLoad(0, 100)).toThrow(InputError);
    expect(() => rateForLoad(0.5, Number.POSITIVE_INFINITY)).toThrow(/capacity must be a positive number/);
  });
});
