import {
  EMPTY_ADJUSTER_MEMORY,
  planAdjustment,
  RampAdjuster,
  type AdjustInput,
} from '../../core/control/ramp-adjuster';
import { InputError } from '../../core/errors';
import { SeededRandom } from '../../core/util/random';

// Ten candidates of 0.05 ms in a 10 ms model: a 2% budget holds four ramps; c9 is not useful.
const candidates = Array.from({ length: 10 }, (_, c) => ({ id: `c${c}`, rampMs: 0.05 }));
const base = { candidates, plainMs: 10, rampBudget: 0.02, latestUsefulIndex: 8 };
const paying = (u: number) => [u, u, u, u];
const useless = [-0.1, 0, -0.2, -0.1];

function input(active: number[], histories: number[][], extra: Partial<AdjustInput> = {}): AdjustInput {
  return { ...base, active, thresholds: active.map(() => 0.1), utilityHistory: histories, ...extra };
}

describe('ramp adjuster', () => {
  it('switches off a ramp still useless after a retune and tries one deeper, at threshold 0', () => {
    // Given c6 has never paid, and a retune does not help it
    const retune = jest.fn(() => ({ thresholds: [0.2, 0.3, 0.4], utilities: [1, 1, -0.05] }));

    // When the adjuster runs
    const { decision } = planAdjustment(input([2, 4, 6], [paying(1), paying(1), useless], { retune }));

    // Then c6 is off, c7 (halfway from c6 to the latest useful c8) is on at 0, and a retune is asked for
    expect(retune).toHaveBeenCalledTimes(1);
    expect(decision.reason).toBe('moved-deeper');
    expect(decision.active).toEqual([2, 4, 7]);
    expect(decision.thresholds).toEqual([0.2, 0.3, 0]);
    expect(decision.removed).toEqual([6]);
    expect(decision.added).toEqual([7]);
    expect(decision.rampsChanged).toBe(true);
    expect(decision.retuneRequested).toBe(true);
  });

  it('keeps a useless ramp when the retune makes it useful', () => {
    const retune = () => ({ thresholds: [0.2, 0.5], utilities: [1, 0.3] });
    const { decision } = planAdjustment(input([2, 4], [paying(1), useless], { retune }));
    expect(decision.reason).toBe('retune-made-useful');
    expect(decision.active).toEqual([2, 4]);
    expect(decision.thresholds).toEqual([0.2, 0.5]);
    expect(decision.rampsChanged).toBe(false);
    expect(decision.thresholdsChanged).toBe(true);
    expect(decision.retuneRequested).toBe(false);
  });

  it('keeps the deepest ramp when all are useless and nothing deeper is left, so inputs stay observed', () => {
    const { decision } = planAdjustment(input([5, 8], [useless, useless]));
    expect(decision.reason).toBe('kept-deepest-to-observe');
    expect(decision.active).toEqual([8]);
  });

  it('adds a ramp halfway to the model start when every ramp pays and the budget has room', () => {
    const { decision } = planAdjustment(input([4, 6], [paying(1), paying(2)]));
    expect(decision.reason).toBe('added-shallower');
    expect(decision.active).toEqual([1, 4, 6]);
    expect(decision.thresholds).toEqual([0, 0.1, 0.1]);
  });

  it('passes over a gap whose ramp could not pay even if it released every input reaching it', () => {
    // Given c0 pays, the budget has room, and the positions are 1 ms apart in a 10 ms model
    const placed = candidates.map((c, i) => ({ ...c, backboneMs: i + 1 }));
    const run = (exitRates: number[]) =>
      planAdjustment(input([0], [paying(1)], { candidates: placed, exitRates })).decision;

    // When c0 releases 99.5% of the inputs: a ramp at c4 would reach 0.5% of them, saving at
    // best 0.005 × 5 ms = 0.025 ms an input against its 0.05 ms
    const behindNearlyAll = run([0.995, 0.005]);

    // Then no ramp is added (each change of the set rebuilds the worker's sessions)
    expect(behindNearlyAll.reason).toBe('unchanged');
    expect(behindNearlyAll.active).toEqual([0]);

    // But when c0 releases 60%, the 40% reaching c4 could save up to 2 ms an input: c4 is tried
    const behindSome = run([0.6, 0.4]);
    expect(behindSome.reason).toBe('filled-gap');
    expect(behindSome.active).toEqual([0, 4]);
  });

  it('adds no ramp and moves none deeper on lanes busy 0.8 of the time or more, but still switches off a useless one', () => {
    // Given every ramp pays and the budget has room, on lanes busy 85% of the time
    const busy = planAdjustment(input([4, 6], [paying(1), paying(2)], { lanesBusyShare: 0.85 })).decision;

    // Then nothing is added, and the reason says why
    expect(busy.reason).toBe('lanes-busy');
    expect(busy.active).toEqual([4, 6]);
    expect(busy.rampsChanged).toBe(false);
    expect(busy.detail).toMatch(/busy 85% of the time/);

    // But below the limit the shallower ramp is tried as before
    const calm = planAdjustment(input([4, 6], [paying(1), paying(2)], { lanesBusyShare: 0.79 })).decision;
    expect(calm.reason).toBe('added-shallower');

    // And a useless ramp is switched off however busy the lanes are (that only saves time), but
    // none is tried deeper in its place: each change of the set is a rebuild on those lanes
    const retune = () => ({ thresholds: [0.1, 0.1], utilities: [1, -0.05] });
    const dropped = planAdjustment(
      input([2, 4], [paying(1), useless], { lanesBusyShare: 1, retune }),
    ).decision;
    expect(dropped.reason).toBe('removed-useless');
    expect(dropped.active).toEqual([2]);
    const moved = planAdjustment(
      input([2, 4], [paying(1), useless], { lanesBusyShare: 0.5, retune }),
    ).decision;
    expect(moved.reason).toBe('moved-deeper');
    expect(moved.active).toEqual([2, 6]);

    // And a share outside [0, 1] is refused
    expect(() => planAdjustment(input([4], [paying(1)], { lanesBusyShare: -0.1 }))).toThrow(
      /lanesBusyShare must be a share from 0 to 1/,
    );
  });

  it('refuses exit rates that are not one share per active ramp and the end', () => {
    expect(() => planAdjustment(input([0], [paying(1)], { exitRates: [1] }))).toThrow(
      /exitRates must hold a share from 0 to 1 for each of the 1 active ramps and the end/,
    );
    expect(() => planAdjustment(input([0], [paying(1)], { exitRates: [1.5, 0] }))).toThrow(InputError);
  });

  it('waits while a ramp has too little history to judge', () => {
    const { decision } = planAdjustment(input([4, 6], [paying(1), [1]]));
    expect(decision.reason).toBe('waiting-for-evidence');
    expect(decision.rampsChanged).toBe(false);
  });

  it('quirk: with the budget full, swaps out the lowest-utility ramp, never the highest', () => {
    // Given four paying ramps filling the budget, c4 paying least and c2 most
    const histories = [paying(3), paying(0.5), paying(2), paying(1)];

    // When the adjuster looks for a shallower position
    const { decision } = planAdjustment(input([2, 4, 6, 8], histories));

    // Then c0 replaces c4; c2, the most useful, stays
    expect(decision.reason).toBe('swapped-lowest-for-shallower');
    expect(decision.active).toEqual([0, 2, 6, 8]);
    expect(decision.removed).toEqual([4]);
    expect(decision.thresholds).toEqual([0, 0.1, 0.1, 0.1]);
  });

  it('damps oscillation: no return to a recently left set, nor to a recently removed candidate', () => {
    const adjuster = new RampAdjuster({ dampingRuns: 3 });
    // Run 1: budget full, c0 swapped in for c4
    expect(
      adjuster.adjust(input([2, 4, 6, 8], [paying(3), paying(0.5), paying(2), paying(1)])).active,
    ).toEqual([0, 2, 6, 8]);
    // Run 2: c0 turned out useless and is switched off (nothing deeper than c8 to try)
    const removal = adjuster.adjust(input([0, 2, 6, 8], [useless, paying(3), paying(2), paying(1)]));
    expect(removal.reason).toBe('removed-useless');
    expect(removal.active).toEqual([2, 6, 8]);
    // Run 3: all pay and there is room, but c0 is barred and {c2, c4, c6, c8} was just left: fill another gap
    const refill = adjuster.adjust(input([2, 6, 8], [paying(3), paying(2), paying(1)]));
    expect(refill.reason).toBe('filled-gap');
    expect(refill.active).toEqual([2, 6, 7, 8]);
    expect(adjuster.memory.run).toBe(3);
  });

  it('lets a barred candidate back once the damping runs have passed', () => {
    let memory = EMPTY_ADJUSTER_MEMORY;
    // Run 1: c1 is switched off as useless
    memory = planAdjustment(input([1, 4], [useless, paying(1)]), memory, { dampingRuns: 2 }).memory;
    // Run 2: c1 would be the shallower position to try, but it is barred
    const soon = planAdjustment(input([4], [paying(1)]), memory, { dampingRuns: 2 });
    expect(soon.decision.active).not.toContain(1);
    // Runs 3 and 4: once two runs have passed, c1 may be tried again
    const idle = planAdjustment(input([4, 6], [paying(1), [1]]), soon.memory, { dampingRuns: 2 });
    const later = planAdjustment(input([4], [paying(1)]), idle.memory, { dampingRuns: 2 });
    expect(later.decision.active).toEqual([1, 4]);
  });

  it('repairs a set beyond the latest useful candidate or over budget', () => {
    const beyond = planAdjustment(input([2, 9], [paying(1), paying(1)])).decision;
    expect(beyond.reason).toBe('repaired');
    expect(beyond.active).toEqual([2]);
    const over = planAdjustment(
      input([1, 2, 3, 4, 5], [paying(5), paying(4), paying(0.1), paying(3), paying(2)]),
    ).decision;
    expect(over.active).toEqual([1, 2, 4, 5]);
  });

  it('rejects inputs that do not describe one ramp set', () => {
    expect(() => planAdjustment(input([4, 2], [paying(1), paying(1)]))).toThrow(InputError);
    expect(() => planAdjustment(input([2], []))).toThrow(InputError);
    expect(() => planAdjustment(input([12], [paying(1)]))).toThrow(InputError);
  });

  it('property: never exceeds the budget nor goes past the latest useful candidate', () => {
    const random = new SeededRandom(31);
    for (let stream = 0; stream < 60; stream++) {
      const count = 3 + Math.floor(random.next() * 12);
      const stock = Array.from({ length: count }, (_, c) => ({
        id: `c${c}`,
        rampMs: 0.01 + random.next() * 0.2,
      }));
      const latest = Math.floor(random.next() * count) - 1;
      const budget = random.next() * 0.08;
      const adjuster = new RampAdjuster({
        minHistory: 1 + Math.floor(random.next() * 3),
        dampingRuns: Math.floor(random.next() * 5),
      });
      let active = Array.from(random.permutation(count).subarray(0, Math.floor(random.next() * 5))).sort(
        (a, b) => a - b,
      );
      let thresholds = active.map(() => random.next());
      for (let run = 0; run < 40; run++) {
        const histories = active.map(() =>
          Array.from({ length: Math.floor(random.next() * 5) }, () => random.normal()),
        );
        const retune =
          random.next() < 0.5
            ? () => ({
                thresholds: active.map(() => random.next()),
                utilities: active.map(() => random.normal()),
              })
            : undefined;
        const decision = adjuster.adjust({
          candidates: stock,
          plainMs: 10,
          rampBudget: budget,
          latestUsefulIndex: latest,
          active,
          thresholds,
          utilityHistory: histories,
          ...(retune ? { retune } : {}),
        });
        const spent = decision.active.reduce((sum, c) => sum + (stock[c]?.rampMs ?? 0), 0);
        expect(spent).toBeLessThanOrEqual(budget * 10 + 1e-9);
        for (const c of decision.active) expect(c).toBeLessThanOrEqual(latest);
        for (const c of decision.added) expect(decision.thresholds[decision.active.indexOf(c)]).toBe(0);
        expect(decision.retuneRequested).toBe(decision.rampsChanged);
        active = decision.active;
        thresholds = decision.thresholds;
      }
    }
  });
});
