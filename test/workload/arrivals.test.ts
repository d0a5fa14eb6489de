import { InputError } from '../../core/errors';
import { arrivalTimesMs, poissonArrivals, scaleToMeanRate } from '../../core/workload/arrivals';
import { SeededRandom } from '../../core/util/random';

function mean(values: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < values.length; i++) total += values[i] as number;
  return total / values.length;
}

/** A bursty synthetic trace: a slow wave plus noise, 1,800 seconds long. */
function syntheticCounts(seed: number): Uint32Array {
  const random = new SeededRandom(seed);
  return Uint32Array.from({ length: 1800 }, (_, second) =>
    Math.max(0, Math.round(60 + 30 * Math.sin(second / 100) + 10 * random.normal())),
  );
}

describe('scaling per-second counts to a target mean rate', () => {
  const counts = syntheticCounts(3);

  it('brings the mean to the target within sampling noise, with whole counts', () => {
    const scaled = scaleToMeanRate(counts, 137.5, 11);

    expect(scaled).toHaveLength(counts.length);
    expect(Math.abs(mean(scaled) - 137.5)).toBeLessThan(137.5 * 0.005);
  });

  it('scales down as well, rounding each second only to a neighbouring whole count', () => {
    const scaled = scaleToMeanRate(counts, 6, 11);
    const factor = 6 / mean(counts);

    expect(Math.abs(mean(scaled) - 6)).toBeLessThan(0.2);
    counts.forEach((count, second) => {
      const exact = count * factor;
      expect([Math.floor(exact), Math.ceil(exact)]).toContain(scaled[second]);
    });
  });

  it('has no rounding bias: the expected total matches across many seeds', () => {
    // Given a rate whose exact scaled counts are all fractional
    const flat = new Uint32Array(100).fill(3);
    const totals = Array.from({ length: 400 }, (_, seed) => mean(scaleToMeanRate(flat, 1.25, seed)));

    expect(Math.abs(mean(totals) - 1.25)).toBeLessThan(0.01);
  });

  it('is deterministic per seed and differs between seeds', () => {
    expect(scaleToMeanRate(counts, 40.3, 5)).toEqual(scaleToMeanRate(counts, 40.3, 5));
    expect(scaleToMeanRate(counts, 40.3, 5)).not.toEqual(scaleToMeanRate(counts, 40.3, 6));
  });

  it('refuses targets and windows it cannot scale', () => {
    expect(() => scaleToMeanRate(counts, 0, 1)).toThrow(/positive number of requests per second/);
    expect(() => scaleToMeanRate(new Uint32Array(5), 10, 1)).toThrow(/no requests/);
    expect(() => scaleToMeanRate([], 10, 1)).toThrow(InputError);
  });
});

describe('arrival times within each second', () => {
  const counts = [3, 0, 5, 1, 40];

  it.each(['poisson', 'uniform'] as const)(
    'gives %s arrivals sorted, as many as counted, each inside its own second',
    (spacing) => {
      const times = arrivalTimesMs(counts, { seed: 7, spacing, startMs: 5000 });

      expect(times).toHaveLength(49);
      for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThanOrEqual(times[i - 1] as number);
      const perSecond = [0, 0, 0, 0, 0];
      for (const time of times) {
        const second = Math.floor((time - 5000) / 1000);
        perSecond[second] = (perSecond[second] ?? 0) + 1;
      }
      expect(perSecond).toEqual(counts);
    },
  );

  it('spaces uniform arrivals evenly within a second', () => {
    const times = arrivalTimesMs([4], { seed: 1, spacing: 'uniform' });
    const gaps = Array.from(times.subarray(1), (time, i) => time - (times[i] as number));

    for (const gap of gaps) expect(gap).toBeCloseTo(250, 9);
  });

  it('is deterministic per seed', () => {
    expect(arrivalTimesMs(counts, { seed: 9 })).toEqual(arrivalTimesMs(counts, { seed: 9 }));
    expect(arrivalTimesMs(counts, { seed: 9 })).not.toEqual(arrivalTimesMs(counts, { seed: 10 }));
  });

  it('refuses counts that are not whole and spacings it does not know', () => {
    expect(() => arrivalTimesMs([1, 2.5], { seed: 1 })).toThrow(/non-negative integers, got 2.5 at second 1/);
    expect(() => arrivalTimesMs([1], { seed: 1, spacing: 'even' as 'uniform' })).toThrow(
      /must be 'poisson' or 'uniform'/,
    );
  });
});

describe('Poisson arrivals without a trace', () => {
  it('arrives at the asked rate over a duration', () => {
    const times = poissonArrivals(200, { durationS: 300 }, 2023);

    expect(Math.abs(times.length / 300 - 200)).toBeLessThan(200 * 0.02);
    expect(times[times.length - 1]).toBeLessThan(300_000);
    for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThan(times[i - 1] as number);
  });

  it('gives the asked count, with exponential gaps of the right mean and spread', () => {
    const times = poissonArrivals(50, { count: 20_000 }, 4);
    const gaps = Array.from(times, (time, i) => time - (i === 0 ? 0 : (times[i - 1] as number)));
    const meanGap = mean(gaps);
    const spread = Math.sqrt(mean(gaps.map((gap) => (gap - meanGap) ** 2)));

    expect(times).toHaveLength(20_000);
    expect(Math.abs(meanGap - 20)).toBeLessThan(20 * 0.03);
    // an exponential's standard deviation equals its mean
    expect(Math.abs(spread - 20)).toBeLessThan(20 * 0.05);
  });

  it('is deterministic per seed', () => {
    expect(poissonArrivals(10, { count: 100 }, 1)).toEqual(poissonArrivals(10, { count: 100 }, 1));
  });

  it('refuses rates and extents that make no run', () => {
    expect(() => poissonArrivals(0, { count: 1 }, 1)).toThrow(/positive number of requests per second/);
    expect(() => poissonArrivals(1, { durationS: -1 }, 1)).toThrow(/positive number of seconds/);
    expect(() => poissonArrivals(1, { count: 1.5 }, 1)).toThrow(/non-negative integer/);
  });
});
