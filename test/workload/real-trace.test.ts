import { existsSync } from 'node:fs';
import { scaleToMeanRate } from '../../core/workload/arrivals';
import { readTrace, traceWindow } from '../../core/workload/trace';
import { sharedTrace } from '../support/traces';

/** The shared Twitter trace, beside the checkout as on every developer machine and in CI. */
const TWITTER_TRACE = sharedTrace('twitter-2021-08.tbz2');

describe('the shared Twitter trace', () => {
  it('has the documented shape', async () => {
    expect(existsSync(TWITTER_TRACE)).toBe(true);

    // When it is read (through the default cache under .cache/traces)
    const counts = await readTrace(TWITTER_TRACE);

    // Then it has one count per second for about 22 days, averaging about 63.6 requests/s
    expect(counts).toHaveLength(1_899_061);
    let total = 0;
    let zeros = 0;
    let busiest = 0;
    for (const count of counts) {
      total += count;
      if (count === 0) zeros++;
      busiest = Math.max(busiest, count);
    }
    expect(total / counts.length).toBeCloseTo(63.6, 1);
    expect(zeros).toBe(37_899);
    expect(busiest).toBe(388);
  });

  it('gives a 30-minute replay window scaled to a chosen rate', async () => {
    const counts = await readTrace(TWITTER_TRACE);

    const window = traceWindow(counts, 84_000, 1800, { skipZeroGaps: true });
    const scaled = scaleToMeanRate(window, 100, 2023);

    expect(window.every((count) => count > 0)).toBe(true);
    const mean = scaled.reduce((sum, count) => sum + count, 0) / scaled.length;
    expect(Math.abs(mean - 100)).toBeLessThan(1);
  });
});
