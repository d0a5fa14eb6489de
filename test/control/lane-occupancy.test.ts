/**
 * How busy the lanes have been: the adjuster's growth rule depends on it, so the share must follow
 * the recent batches and forget idle time.
 */
import { LaneOccupancy } from '../../core/control/lane-occupancy';
import { InputError } from '../../core/errors';

describe('LaneOccupancy', () => {
  it('is the share of the recent stretch the lanes spent running batches', () => {
    // Given two lanes and a 100 ms horizon
    const occupancy = new LaneOccupancy(2, 100);
    expect(occupancy.busyShare).toBe(0);

    // When each lane starts a batch of 9 ms every 10 ms for 200 ms
    for (let t = 0; t < 200; t += 10) {
      occupancy.add(t, 9);
      occupancy.add(t, 9);
    }

    // Then from the first batch within the horizon (100 ms) to the last one's end (199 ms) each
    // lane ran ten batches: 180 ms of 2 × 99
    expect(occupancy.busyShare).toBeCloseTo(180 / 198, 9);
  });

  it('takes the share from the first recent batch, so a quiet spell before it does not count', () => {
    const occupancy = new LaneOccupancy(1, 1000);
    // A lone batch reads over at least a tenth of the horizon, not as lanes always busy
    occupancy.add(0, 10);
    expect(occupancy.busyShare).toBeCloseTo(0.1, 9);
    // After five quiet seconds, 200 ms of batches of 9 ms every 10 ms: 90% busy, not 18%
    for (let t = 5000; t < 5200; t += 10) occupancy.add(t, 9);
    expect(occupancy.busyShare).toBeCloseTo(180 / 199, 9);
  });

  it('refuses lane counts, horizons and batches that cannot be measured', () => {
    expect(() => new LaneOccupancy(0)).toThrow(InputError);
    expect(() => new LaneOccupancy(1, 0)).toThrow(/horizonMs must be positive/);
    expect(() => new LaneOccupancy(1).add(Number.NaN, 1)).toThrow(/finite start/);
    expect(() => new LaneOccupancy(1).add(0, -1)).toThrow(/non-negative wall time/);
  });
});
