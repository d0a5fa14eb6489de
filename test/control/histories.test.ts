import { foldServed, servedAgreement, ServedTally } from '../../core/control/served-history';
import { emptyUtility, foldUtility } from '../../core/control/utility-history';

describe('the served and utility histories both controllers keep', () => {
  it('keeps served agreement over the fewest newest batches that cover the horizon', () => {
    // Given batches of 40 inputs folded into a horizon of 100
    let served = foldServed([], [{ inputs: 40, correct: 40 }], 100);
    served = foldServed(
      served,
      [
        { inputs: 40, correct: 39 },
        { inputs: 40, correct: 38 },
        { inputs: 40, correct: 40 },
      ],
      100,
    );

    // Then the oldest batch is gone, the rest still covering the horizon, and agreement is over them
    expect(served).toEqual([
      { inputs: 40, correct: 39 },
      { inputs: 40, correct: 38 },
      { inputs: 40, correct: 40 },
    ]);
    expect(servedAgreement(served)).toEqual({ inputs: 120, agreement: 117 / 120 });
    expect(servedAgreement([])).toEqual({ inputs: 0, agreement: 1 });
    // And the online controller's incremental tally, fed the same batches one by one, agrees
    const tally = new ServedTally(100);
    for (const correct of [40, 39, 38, 40]) tally.add(40, correct);
    expect(tally.toHistory()).toEqual(served);
    expect(tally.agreement).toEqual(servedAgreement(served));
  });

  it('closes a utility entry every sample of inputs, across runs, and keeps the newest entries', () => {
    // Given two ramps, entries of 64 inputs and room for two entries
    const start = emptyUtility(['c0', 'c3']);

    // When batches arrive over two runs
    const afterFirst = foldUtility(start, [{ inputs: 48, utilities: [1, -1] }], 64, 2);
    const afterSecond = foldUtility(
      afterFirst,
      [
        { inputs: 16, utilities: [5, -1] },
        { inputs: 64, utilities: [2, 0] },
        { inputs: 64, utilities: [3, 1] },
      ],
      64,
      2,
    );

    // Then the first run left a partial entry, and the second closed three, keeping the newest two
    expect(afterFirst.history).toEqual([[], []]);
    expect(afterFirst.inputs).toBe(48);
    expect(afterSecond.history).toEqual([
      [2, 3],
      [0, 1],
    ]);
    expect(afterSecond).toMatchObject({ rampIds: ['c0', 'c3'], inputs: 0, sums: [0, 0] });
  });
});
