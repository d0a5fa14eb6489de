import {
  ewmaForecaster,
  holtForecaster,
  intervalPeaks,
  lastPeakForecaster,
  scoreForecaster,
} from '../../core/fleet/forecast';
import { lstmForecaster, readLstmWeights } from '../../core/fleet/lstm-forecaster';
import { readTrace, traceWindow } from '../../core/workload/trace';
import { sharedTrace } from '../support/traces';

describe('forecasters', () => {
  it('reduces a per-second series to per-interval peaks', () => {
    expect(Array.from(intervalPeaks([1, 5, 2, 7, 3], 2))).toEqual([5, 7, 3]);
  });

  it("computes InfAdapter's fallback as pandas' ewm(span=10).mean() does", () => {
    // Given peaks 10, 20, 30: weights (9/11)^2, 9/11, 1 with α = 2/11
    const a = 9 / 11;
    const expected = (10 * a * a + 20 * a + 30) / (a * a + a + 1);
    expect(ewmaForecaster.predict([10, 20, 30])).toBeCloseTo(expected, 12);
    expect(lastPeakForecaster.predict([10, 20, 30])).toBe(30);
    // A steady ramp is followed by the trend method, not lagged like a mean
    expect(holtForecaster.predict([10, 20, 30, 40, 50])).toBeGreaterThan(50);
  });

  it('scores the committed LSTM against the statistical rivals on a held-out day of the Twitter trace', async () => {
    // Given day 15 of the trace (the LSTM trained on days 0-13), as per-minute peaks
    const counts = await readTrace(sharedTrace());
    const peaks = intervalPeaks(traceWindow(counts, 15 * 86400, 6 * 3600, { skipZeroGaps: true }), 60);
    const lstm = lstmForecaster(await readLstmWeights());

    // When each forecaster predicts every minute from the ones before it
    const scores = [lstm, ewmaForecaster, lastPeakForecaster].map((f) => scoreForecaster(f, peaks));

    // Then every error is finite and the trained model is at least as close as the EWMA it replaces
    for (const score of scores) {
      expect(score.intervals).toBeGreaterThan(300);
      expect(Number.isFinite(score.mapePct)).toBe(true);
    }
    const [lstmScore, ewmaScore] = scores;
    expect(lstmScore?.mapePct).toBeLessThanOrEqual(ewmaScore?.mapePct ?? 0);
  });
});
