/**
 * How busy the lanes have been: the adjuster's growth rule depends on it, so the share must follow
 * the recent batches and forget idle time.
 */
import { LaneOccupancy } from '../../core/control/lane-occupancy';
import { InputError } from '../../core/errors';

describe('LaneOccupancy', () => {
  it('is the share of the trailing horizon the lanes spent running batches', () => {
    // Given two lanes and a 100 ms horizon
    const occupancy = new LaneOccupancy(2, 100);
    expect(occupancy.busyShare).toBe(0);

    // When each lane starts a batch of 9 ms every 10 ms for 200 ms
    for (let t = 0; t < 200; t += 10) {
      occupancy.add(t, 9);
      occupancy.add(t, 9);
    }

    // Then over the 100 ms before the last batch's end (ten batches on each lane) they were 90% busy
    expect(occupancy.busyShare).toBeCloseTo(0.9, 9);
  });

  it('forgets idle time once it has left the horizon, and counts only the time served so far', () => {
    const occupancy = new LaneOccupancy(1, 100);
    // A first batch: 10 ms busy of the 10 ms served so far
    occupancy.add(0, 10);
    expect(occupancy.busyShare).toBe(1);
    // A quiet second, then one batch: the earlier one has aged out
    occupancy.add(1000, 20);
    expect(occupancy.busyShare).toBeCloseTo(0.2, 5);
  });

  it('refuses lane counts, horizons and batches that cannot be measured', () => {
    expect(() => new LaneOccupancy(0)).toThrow(InputError);
    expect(() => new LaneOccupancy(1, 0)).toThrow(/horizonMs must be positive/);
    expect(() => new LaneOccupancy(1).add(Number.NaN, 1)).toThrow(/finite start/);
    expect(() => new LaneOccupancy(1).add(0, -1)).toThrow(/non-negative wall time/);
  });
});
