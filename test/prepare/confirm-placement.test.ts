/**
 * Confirming the initial placement: the chosen cuts are timed again and, where they cost more
 * than the figures they were chosen on, charged what they measured and placed again.
 */
import { confirmPlacement, scaleToConfirmed } from '../../core/prepare/confirm-placement';
import { chooseInitialRamps } from '../../core/prepare/initial-config';

/** A 10 ms model with four candidates evenly deep; each ramp's own operators cost nothing. */
const IDS = ['c0', 'c1', 'c2', 'c3'];
function placeWithin(budget: number) {
  return (cutMs: ReadonlyMap<string, number>): readonly number[] =>
    chooseInitialRamps(
      IDS.map((id, i) => ({ id, backboneMs: 2 * (i + 1), rampMs: cutMs.get(id) ?? 0 })),
      10,
      budget,
    ).chosen;
}
const place = placeWithin(0.02);

/** Cut figures (or true costs) for c0–c3, in ms. */
const cutFigures = (c0: number, c1: number, c2: number, c3: number): Map<string, number> =>
  new Map([
    ['c0', c0],
    ['c1', c1],
    ['c2', c2],
    ['c3', c3],
  ]);

describe('confirmPlacement', () => {
  it('keeps a placement whose cuts cost what they were charged', async () => {
    // Given cut figures where c0 fits the 0.2 ms budget, and a measurement that agrees
    const figures = new Map([
      ['c0', 0.15],
      ['c1', 0.3],
      ['c2', 0.3],
      ['c3', 0.3],
    ]);
    const measured: string[][] = [];
    const result = await confirmPlacement(IDS, figures, place, (ids) => {
      measured.push([...ids]);
      return Promise.resolve(0.14);
    });

    // Then c0 is measured once, confirmed, and charged what it measured
    expect(measured).toEqual([['c0']]);
    expect(result.chosen).toEqual([0]);
    expect(result.cutMs.get('c0')).toBeCloseTo(0.14, 12);
    expect(result.checks).toEqual([{ ids: ['c0'], chargedMs: 0.15, measuredMs: 0.14, reason: 'chosen' }]);
  });

  it('charges a lucky cut what it measures and places again', async () => {
    // Given c1 chosen on a lucky 0.1 ms figure that really costs 0.25 ms, and c3 really 0.18 ms
    const figures = new Map([
      ['c0', 0.3],
      ['c1', 0.1],
      ['c2', 0.3],
      ['c3', 0.18],
    ]);
    const truth = new Map([
      ['c1', 0.25],
      ['c3', 0.18],
    ]);
    const result = await confirmPlacement(IDS, figures, place, (ids) =>
      Promise.resolve(ids.reduce((sum, id) => sum + (truth.get(id) ?? 1), 0)),
    );

    // Then c1 is charged its 0.25 ms, which overruns the budget, and the next that fits, c3, is
    // measured and confirmed
    expect(result.cutMs.get('c1')).toBeCloseTo(0.25, 12);
    expect(result.chosen).toEqual([3]);
    expect(result.checks.map((check) => check.ids)).toEqual([['c1'], ['c3']]);
  });

  it('shares a set’s excess among its cuts in proportion, and stops after the last check', async () => {
    // Given a budget of 1 ms that fits three cuts on their figures, and measurements always 50% more
    const placeWide = placeWithin(0.1);
    const figures = new Map([
      ['c0', 0.2],
      ['c1', 0.4],
      ['c2', 0.4],
      ['c3', 0.4],
    ]);
    const result = await confirmPlacement(
      IDS,
      figures,
      placeWide,
      (ids) => Promise.resolve(1.5 * ids.reduce((sum, id) => sum + (figures.get(id) ?? 0), 0)),
      { maxChecks: 1 },
    );

    // Then the one check raises each chosen cut by the same factor, and placement runs once more
    expect(result.checks).toHaveLength(1);
    const [check] = result.checks;
    for (const id of check?.ids ?? []) {
      expect(result.cutMs.get(id)).toBeCloseTo(1.5 * (figures.get(id) ?? 0), 12);
    }
    expect(result.chosen).toEqual(placeWide(result.cutMs));
  });

  it('does not measure a cut again once it has been measured', async () => {
    // Given c0 charged 0.15 ms that measures 0.19 ms: still within the 0.2 ms budget
    const figures = new Map([
      ['c0', 0.15],
      ['c1', 0.3],
      ['c2', 0.3],
      ['c3', 0.3],
    ]);
    let draws = 0;
    const result = await confirmPlacement(IDS, figures, place, () =>
      Promise.resolve([0.19, 0.5][draws++] ?? 1),
    );

    // Then it stays placed on its one measurement: a second, higher draw is never taken, so its
    // charge is not the largest of repeated looks
    expect(draws).toBe(1);
    expect(result.chosen).toEqual([0]);
    expect(result.cutMs.get('c0')).toBeCloseTo(0.19, 12);
  });

  it('checks a passed-over cut that would be chosen a reading’s noise cheaper, and places it', async () => {
    // Given c0 (where the ramp should go) read 0.25 ms, over the 0.2 ms budget, though it costs
    // 0.12 ms, so placement first takes the nearest cut that fits, c1
    const figures = cutFigures(0.25, 0.15, 0.3, 0.3);
    const truth = cutFigures(0.12, 0.15, 1, 1);
    const result = await confirmPlacement(
      IDS,
      figures,
      place,
      (ids) => Promise.resolve(ids.reduce((sum, id) => sum + (truth.get(id) ?? 1), 0)),
      { slackMs: 0.1 },
    );

    // Then c1 is confirmed, c0 is measured again as a near miss, and c0 is placed on what it measured
    expect(result.checks.map((check) => [check.ids, check.reason])).toEqual([
      [['c1'], 'chosen'],
      [['c0'], 'near-miss'],
    ]);
    expect(result.chosen).toEqual([0]);
    expect(result.cutMs.get('c0')).toBeCloseTo(0.12, 12);
  });

  it('keeps the first choice when the near miss measures high again, and checks it once', async () => {
    // Given c0 read 0.25 ms and really costs 0.3 ms
    const figures = cutFigures(0.25, 0.15, 0.3, 0.3);
    const measured: string[][] = [];
    const result = await confirmPlacement(
      IDS,
      figures,
      place,
      (ids) => {
        measured.push([...ids]);
        return Promise.resolve(ids.reduce((sum, id) => sum + (id === 'c0' ? 0.3 : 0.15), 0));
      },
      { slackMs: 0.1 },
    );

    // Then c1 stays placed; c0 was measured once more and no other cut was worth a look
    expect(measured).toEqual([['c1'], ['c0']]);
    expect(result.chosen).toEqual([1]);
    expect(result.cutMs.get('c0')).toBeCloseTo(0.3, 12);
  });

  it('measures a near miss even where nothing fitted on the screening figures', async () => {
    // Given every cut read over the budget, c2 by less than a reading's noise
    const figures = cutFigures(0.5, 0.5, 0.25, 0.5);
    const result = await confirmPlacement(IDS, figures, place, () => Promise.resolve(0.18), {
      slackMs: 0.1,
    });

    // Then c2 is measured as a near miss, fits on what it measured, and is placed
    expect(result.checks.map((check) => [check.ids, check.reason])).toEqual([[['c2'], 'near-miss']]);
    expect(result.chosen).toEqual([2]);
  });

  it('measures nothing when no ramp fits', async () => {
    const figures = new Map(IDS.map((id) => [id, 1]));
    const result = await confirmPlacement(IDS, figures, place, () => {
      throw new Error('nothing should be measured');
    });
    expect(result).toEqual({ chosen: [], cutMs: figures, checks: [] });
  });
});

/** Rounds away float noise so that figures compare exactly. */
const rounded = (ms: number): number => Number(ms.toFixed(12));

describe('scaleToConfirmed', () => {
  it('scales every batch size by what the reference size confirmed', () => {
    // Given screening figures at four sizes, the reference (slot 2) charged 1.0 ms and confirmed at 1.5 ms
    const scaled = scaleToConfirmed([0.2, 0.5, 1.0, 2.0], 2, 1.5).map(rounded);

    // Then the reference carries the confirmed figure and the others rise by the same half
    expect(scaled).toEqual([0.3, 0.75, 1.5, 3]);
  });

  it('lowers the figures when the check measured less', () => {
    expect(scaleToConfirmed([0.4, 0.8], 1, 0.6).map(rounded)).toEqual([0.3, 0.6]);
  });

  it('keeps the figures of a cut that was never checked, and of a reference figure of zero', () => {
    expect(scaleToConfirmed([0.4, 0.8], 1, undefined)).toEqual([0.4, 0.8]);
    expect(scaleToConfirmed([0.4, 0], 1, 0.3)).toEqual([0.4, 0.3]);
  });
});
