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

  it('leaves pauses out: a quiet spell between bursts is not load, a short gap is idleness', () => {
    const occupancy = new LaneOccupancy(1, 10_000);
    // 200 ms of batches of 9 ms every 10 ms, five quiet seconds, then 200 ms more
    for (let t = 0; t < 200; t += 10) occupancy.add(t, 9);
    for (let t = 5000; t < 5200; t += 10) occupancy.add(t, 9);
    // Then the lane was 90% busy while requests flowed: 360 ms of 199 + 199 ms, the pause left out
    // (its first 9 ms are the batch before it)
    expect(occupancy.busyShare).toBeCloseTo(360 / 398, 9);
    // But a gap under half a second counts as idle time
    const sparse = new LaneOccupancy(1, 10_000);
    for (let t = 0; t < 4000; t += 400) sparse.add(t, 40);
    expect(sparse.busyShare).toBeCloseTo(400 / 3640, 9);
  });

  it('forgets batches that started before the horizon', () => {
    const occupancy = new LaneOccupancy(1, 1000);
    for (let t = 0; t < 1000; t += 10) occupancy.add(t, 10);
    for (let t = 1000; t < 2000; t += 10) occupancy.add(t, 1);
    expect(occupancy.busyShare).toBeCloseTo(100 / 991, 9);
  });

  it('refuses lane counts, horizons and batches that cannot be measured', () => {
    expect(() => new LaneOccupancy(0)).toThrow(InputError);
    expect(() => new LaneOccupancy(1, 0)).toThrow(/horizonMs must be positive/);
    expect(() => new LaneOccupancy(1).add(Number.NaN, 1)).toThrow(/finite start/);
    expect(() => new LaneOccupancy(1).add(0, -1)).toThrow(/non-negative wall time/);
  });
});
