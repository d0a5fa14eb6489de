import { evaluateConfig, meetsConstraint } from '../../core/control/exit-rule';
import { windowFromRows, type ExitRow } from '../../core/control/records';
import { syntheticCosts, syntheticWindow } from '../../core/control/synthetic';
import { lowerThresholdsToMeetConstraint, tuneThresholds } from '../../core/control/threshold-tuner';
import { InputError } from '../../core/errors';
import { SeededRandom } from '../../core/util/random';
import { linearCosts, randomWindow } from './windows';

const twoRampCosts = { exitMs: [3, 6], finalMs: 11, plainMs: 10, rampMs: [0.5, 0.5] };

function rows(n: number, row: (i: number) => ExitRow): ExitRow[] {
  return Array.from({ length: n }, (_, i) => row(i));
}

describe('threshold tuner', () => {
  it('property: after every tune the window meets the constraint', () => {
    const random = new SeededRandom(2024);
    for (let seed = 1; seed <= 300; seed++) {
      // Given an arbitrary window and constraint
      const ramps = 1 + (seed % 6);
      const count = 20 + Math.floor(random.next() * 300);
      const window = randomWindow(seed, count, ramps, 0.5 + 0.5 * random.next());
      const constraint = [0.9, 0.95, 0.99, 1][seed % 4] as number;
      const costs = linearCosts(ramps);

      // When thresholds are tuned from zero
      const result = tuneThresholds(window, costs, { constraint });

      // Then the window meets the constraint, thresholds stay in [0, 1], and the reported
      // evaluation is the exit rule's own
      const evaluation = evaluateConfig(window, result.thresholds, costs);
      expect(meetsConstraint(evaluation.agreement, constraint)).toBe(true);
      expect(result.meetsConstraint).toBe(true);
      expect(result.evaluation).toEqual(evaluation);
      for (const t of result.thresholds) {
        expect(t).toBeGreaterThanOrEqual(0);
        expect(t).toBeLessThanOrEqual(1);
      }
      expect(evaluation.meanLatencyMs).toBeLessThanOrEqual(costs.finalMs);
    }
  });

  it('tunes a realistic window to real savings within the constraint', () => {
    // Given 512 inputs where deeper ramps agree more and confidence tracks agreement
    const window = syntheticWindow({ inputs: 512, ramps: 8, seed: 11 });
    const confident = window.confidence[2] as Float32Array;
    const agreeing = window.agrees[2] as Uint8Array;
    const order = Array.from(confident.keys()).sort(
      (a, b) => (confident[b] as number) - (confident[a] as number),
    );
    const agreementOf = (part: number[]) =>
      part.reduce((sum, i) => sum + (agreeing[i] as number), 0) / part.length;
    expect(agreementOf(order.slice(0, 128))).toBeGreaterThan(agreementOf(order.slice(384)) + 0.3);

    // When the tuner runs with the default 99% constraint
    const costs = syntheticCosts(8);
    const result = tuneThresholds(window, costs);

    // Then at least 99% of answers agree and a sizeable share of latency is saved
    expect(result.evaluation.agreement).toBeGreaterThanOrEqual(0.99);
    expect(result.evaluation.savingsFraction).toBeGreaterThan(0.3);
    expect(result.rounds).toBeGreaterThan(0);
    expect(result.moves).toBeGreaterThan(0);
  });

  it('keeps fixed ramps at their starting thresholds', () => {
    const window = syntheticWindow({ inputs: 300, ramps: 4, seed: 3 });
    const result = tuneThresholds(window, syntheticCosts(4), {
      initial: [0.002, 0, 0.003, 0],
      fixed: [0, 2],
    });
    expect(result.thresholds[0]).toBe(0.002);
    expect(result.thresholds[2]).toBe(0.003);
  });

  it('rejects options it cannot honour', () => {
    const window = syntheticWindow({ inputs: 10, ramps: 2, seed: 3 });
    expect(() => tuneThresholds(window, syntheticCosts(2), { constraint: 1.5 })).toThrow(InputError);
    expect(() => tuneThresholds(window, syntheticCosts(2), { fixed: [2] })).toThrow(InputError);
    expect(() => tuneThresholds(window, syntheticCosts(3))).toThrow(InputError);
    expect(() => tuneThresholds(window, syntheticCosts(2), { initial: [0.5] })).toThrow(InputError);
  });

  it('quirk: index 0 is a real choice, so ramp 0 is raised when it is the best move', () => {
    // Given half the inputs confidently right at ramp 0, and ramp 1 confident everywhere but once wrong
    const window = windowFromRows(
      rows(100, (i) => ({ confidence: [i < 50 ? 0.995 : 0.5, 0.995], agrees: [1, i === 99 ? 0 : 1] })),
    );

    // When one round runs
    const result = tuneThresholds(window, twoRampCosts, { maxRounds: 1 });

    // Then the move kept is ramp 0's (no loss), not "no move" and not ramp 1's
    expect(result.thresholds).toEqual([0.01, 0]);
    expect(result.evaluation.exitRates[0]).toBe(0.5);
  });

  it('quirk: when every step leaves latency unchanged, crosses on evidence instead of bumping ramp 0', () => {
    // Given ramp 0 always wrong at confidence 0.5, ramp 1 always right at 0.7: no 0.01 step moves anyone
    const window = windowFromRows(rows(50, () => ({ confidence: [0.5, 0.7], agrees: [0, 1] })));

    // When tuned
    const result = tuneThresholds(window, twoRampCosts);

    // Then ramp 0 was never raised (its evidence says it is wrong), and ramp 1's step was
    // lengthened just past its inputs' 1 - confidence of 0.3
    expect(result.thresholds[0]).toBe(0);
    expect(result.thresholds[1]).toBeGreaterThan(0.3);
    expect(result.thresholds[1]).toBeLessThan(0.33);
    expect(result.evaluation.exitRates).toEqual([0, 1, 0]);
    expect(result.evaluation.agreement).toBe(1);
  });

  it('quirk: never raises a threshold that no input can test', () => {
    // Given every input leaving at ramp 0 (fixed), so none ever reaches ramp 1
    const window = windowFromRows(rows(40, () => ({ confidence: [0.9, 0.99], agrees: [1, 1] })));

    // When the other ramp is tuned
    const result = tuneThresholds(window, twoRampCosts, { initial: [0.5, 0], fixed: [0] });

    // Then it stays at 0: no evidence, no raise
    expect(result.thresholds).toEqual([0.5, 0]);
    expect(result.moves).toBe(0);
  });

  it('quirk: uses the stated constraint, inclusive, not a budget 100 times stricter', () => {
    // Given 100 inputs equally confident at ramp 0, exactly one of them wrong
    const window = windowFromRows(
      rows(100, (i) => ({ confidence: [0.95, 0.99], agrees: [i === 37 ? 0 : 1, 1] })),
    );

    // When tuned at 99%, exiting all of them at ramp 0 gives exactly 99% and is allowed
    const at99 = tuneThresholds(window, twoRampCosts, { constraint: 0.99 });
    expect(at99.evaluation.agreement).toBe(0.99);
    expect(at99.evaluation.exitRates[0]).toBe(1);

    // And at 99.5% it is not: they leave at ramp 1 instead
    const at995 = tuneThresholds(window, twoRampCosts, { constraint: 0.995 });
    expect(at995.thresholds[0]).toBe(0);
    expect(at995.evaluation.exitRates[1]).toBe(1);
  });

  it('quirk: evaluates the last input of the window (no dropped sample)', () => {
    // Given a window whose only wrong answer is its very last input
    const window = windowFromRows(rows(60, (i) => ({ confidence: [0.95], agrees: [i === 59 ? 0 : 1] })));

    // When tuned with no wrong answer allowed
    const result = tuneThresholds(
      window,
      { exitMs: [2], finalMs: 10.5, plainMs: 10, rampMs: [0.5] },
      { constraint: 1 },
    );

    // Then nothing exits: the last input counts
    expect(result.thresholds).toEqual([0]);
    expect(result.evaluation.agreement).toBe(1);
  });

  it('doubles the step of a ramp after its move is kept', () => {
    // Given a ramp whose inputs spread evenly over 1 - confidence in [0, 0.2), all right
    const window = windowFromRows(rows(200, (i) => ({ confidence: [1 - i / 1000], agrees: [1] })));

    // When two rounds run, the step goes 0.01 then 0.02
    const result = tuneThresholds(
      window,
      { exitMs: [2], finalMs: 10.5, plainMs: 10, rampMs: [0.5] },
      { maxRounds: 2 },
    );
    expect(result.thresholds[0]).toBeCloseTo(0.03, 12);
  });
});

describe('local guard', () => {
  it('leaves thresholds alone when the window meets the constraint', () => {
    const window = syntheticWindow({ inputs: 200, ramps: 3, seed: 8 });
    const tuned = tuneThresholds(window, syntheticCosts(3)).thresholds;
    const guard = lowerThresholdsToMeetConstraint(window, tuned, 0.99);
    expect(guard.lowered).toBe(false);
    expect(guard.thresholds).toEqual(tuned);
  });

  it('lowers the ramp with the worst exit agreement first', () => {
    // Given ramp 0 exits 10 inputs with 9 right, ramp 1 exits 10 with 5 right, 80 reach the end
    const window = windowFromRows(
      rows(100, (i) => {
        if (i < 10) return { confidence: [0.9 - i * 0.001, 0.5], agrees: [i === 0 ? 0 : 1, 1] };
        if (i < 20) return { confidence: [0.5, 0.9 - i * 0.001], agrees: [1, i % 2] };
        return { confidence: [0.5, 0.5], agrees: [1, 1] };
      }),
    );
    expect(evaluateConfig(window, [0.2, 0.2], twoRampCosts).agreement).toBe(0.94);

    // When the guard enforces 95%
    const guard = lowerThresholdsToMeetConstraint(window, [0.2, 0.2], 0.95);

    // Then only ramp 1 was lowered, just enough
    expect(guard.thresholds[0]).toBe(0.2);
    expect(guard.thresholds[1]).toBeLessThan(0.2);
    expect(guard.agreement).toBeGreaterThanOrEqual(0.95);
    expect(evaluateConfig(window, guard.thresholds, twoRampCosts).exitRates[1]).toBeGreaterThan(0);
  });

  it('property: only lowers thresholds, and always meets the constraint', () => {
    const random = new SeededRandom(7);
    for (let seed = 1; seed <= 300; seed++) {
      const ramps = 1 + (seed % 6);
      const window = randomWindow(seed, 30 + (seed % 200), ramps, 0.4 + 0.6 * random.next());
      const thresholds = Array.from({ length: ramps }, () => random.next());
      const constraint = [0.8, 0.95, 0.99, 1][seed % 4] as number;

      const guard = lowerThresholdsToMeetConstraint(window, thresholds, constraint);

      guard.thresholds.forEach((t, r) => expect(t).toBeLessThanOrEqual(thresholds[r] as number));
      const agreement = evaluateConfig(window, guard.thresholds, linearCosts(ramps)).agreement;
      expect(agreement).toBe(guard.agreement);
      expect(meetsConstraint(agreement, constraint)).toBe(true);
    }
  });
});
