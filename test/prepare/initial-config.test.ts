import { chooseInitialRamps, spreadEvenly } from '../../core/prepare/initial-config';

const positions = (rampMs: number) =>
  Array.from({ length: 9 }, (_, i) => ({ id: `c${i}`, backboneMs: (i + 1) * 1.0, rampMs }));

describe('initial ramp placement', () => {
  it('spreads ramps evenly from the first candidate, clear of the latest position', () => {
    expect(spreadEvenly(1, 8)).toEqual([0]);
    expect(spreadEvenly(3, 8)).toEqual([0, 3, 5]);
    expect(spreadEvenly(2, 0)).toEqual([0]);
  });

  it('places as many ramps as the budget allows, no deeper than the latest useful position', () => {
    // Given nine blocks of 1 ms in a 10 ms model and ramps of 0.06 ms
    const placement = chooseInitialRamps(positions(0.06), 10, 0.02);

    // Then every ramp but the ninth is useful, and three ramps fit in 2% of 10 ms
    expect(placement.latestUseful).toBe(8);
    expect(placement.chosen).toEqual([0, 3, 5]);
    expect(placement.overheadFraction).toBeCloseTo(0.018, 6);
  });

  it('places nothing when no single ramp fits the budget', () => {
    const placement = chooseInitialRamps(positions(0.5), 10, 0.02);
    expect(placement.chosen).toEqual([]);
    expect(placement.overheadFraction).toBe(0);
  });

  it('treats a position whose exit is not faster than the plain model as useless', () => {
    const placement = chooseInitialRamps([{ id: 'c0', backboneMs: 9.99, rampMs: 0.02 }], 10, 0.02);
    expect(placement.latestUseful).toBeNull();
  });
});
