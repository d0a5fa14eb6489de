/**
 * The evaluation's confidence interval for a median over repeats: exact sign-test coverage, the
 * narrowest interval that reaches the asked level, and honest coverage when repeats are too few.
 */
import { medianInterval } from '../../bench/eval/median-interval';

describe('medianInterval', () => {
  it('spans min – max with its 75% coverage over three repeats', () => {
    // Given three repeats of a win, one from each regime of a bistable queue
    const ci = medianInterval([41.1, -1.1, 65.5]);

    // Then too few repeats reach 90%: the whole range is the interval, with the coverage it has
    expect(ci).toEqual({ low: -1.1, high: 65.5, coverage: 0.75, repeats: 3 });
  });

  it('drops the extremes once enough repeats keep the coverage above the level', () => {
    // Given ten repeats, two of them far off
    const values = [12, 14, 15, 15, 16, 17, 18, 19, -40, 90];

    // Then the 2nd smallest and 2nd largest bound it: 1 - 2 * P(Bin(10, 1/2) <= 1) = 1 - 22/1024
    const ci = medianInterval(values);
    expect(ci.low).toBe(12);
    expect(ci.high).toBe(19);
    expect(ci.coverage).toBeCloseTo(1 - 22 / 1024, 12);
    // And asking for less coverage narrows it to the 3rd order statistics (1 - 2 * 56/1024 = 89.1%)
    const narrower = medianInterval(values, 0.85);
    expect([narrower.low, narrower.high]).toEqual([14, 18]);
    expect(narrower.coverage).toBeCloseTo(1 - 112 / 1024, 12);
  });

  it('reaches 93.75% with five repeats and ignores NaN', () => {
    const ci = medianInterval([3, Number.NaN, 1, 5, 2, 4]);
    expect(ci).toEqual({ low: 1, high: 5, coverage: 0.9375, repeats: 5 });
  });

  it('claims no coverage for one repeat or none', () => {
    expect(medianInterval([7])).toEqual({ low: 7, high: 7, coverage: 0, repeats: 1 });
    expect(medianInterval([]).repeats).toBe(0);
  });
});
