import { configCosts, costsAtBatch } from '../../core/control/costs';
import { evaluateConfig } from '../../core/control/exit-rule';
import { EMPTY_ADJUSTER_MEMORY } from '../../core/control/ramp-adjuster';
import {
  decideScheduled,
  type ScheduledInput,
  type ScheduledSettings,
  type ServedBatch,
} from '../../core/control/scheduled-decision';
import { syntheticProfile, syntheticWindow } from '../../core/control/synthetic';
import { emptyUtility } from '../../core/control/utility-history';

// Twelve candidates over a 10 ms model (reference batch 8); four ramps serve, all at 0.
const profile = syntheticProfile(12);
const current = { version: 3, ramps: [2, 4, 7, 9].map((c) => ({ id: `c${c}`, threshold: 0 })) };
const rampIds = current.ramps.map((ramp) => ramp.id);
const settings: ScheduledSettings = {
  constraint: 0.99,
  rampBudget: 0.02,
  minTuneInputs: 64,
  headroomGain: 1,
  servedHorizonInputs: 1024,
  utilitySampleInputs: 64,
  utilityHistoryLength: 16,
  minThresholdIncrease: 0.001,
  tuner: {},
  // The adjuster waits for more utility history than a test run has, so only the tuner acts.
  adjuster: { minHistory: 100 },
};

/** Batches of 64 inputs served at thresholds 0: everything ran to the end and agreed. */
function servedAtZero(batches: number): ServedBatch[] {
  return Array.from({ length: batches }, () => ({
    inputs: 64,
    correct: 64,
    paddedSize: 8,
    exitCounts: [0, 0, 0, 0, 64],
  }));
}

function input(overrides: Partial<ScheduledInput> = {}): ScheduledInput {
  return {
    model: 'synthetic',
    profile,
    latestUsefulCandidate: 'c11',
    current,
    memory: { headroom: 0.01, served: [], utility: emptyUtility(rampIds), adjuster: EMPTY_ADJUSTER_MEMORY },
    evidence: {
      served: servedAtZero(8),
      window: syntheticWindow({ seed: 7, inputs: 512, ramps: 4 }),
      batchSize: 8,
    },
    settings,
    ...overrides,
  };
}

describe('the scheduled decision (pure)', () => {
  it('releases headroom after a surplus, tunes to the constraint plus the rest, and proposes a version', () => {
    // Given a window of 512 inputs and 512 served inputs that all agreed (a surplus over 99%)
    const given = input();
    const frozen = JSON.stringify(given.memory);

    // When the run decides
    const decided = decideScheduled(given);
    if (decided.kind !== 'decided') throw new Error(`expected a decision, got ${decided.kind}`);

    // Then the served history holds the new batches and the headroom fell by a quarter of the surplus
    expect(decided.served).toEqual({ inputs: 512, agreement: 1 });
    expect(decided.memory.served).toHaveLength(8);
    expect(decided.memory.headroom).toBeCloseTo(0.01 - 0.25 * 0.01, 12);
    expect(decided.tune.target).toBeCloseTo(0.99 + decided.memory.headroom, 12);
    // ... the tuned thresholds meet that target on the window
    const costs = configCosts(costsAtBatch(profile, 8), [2, 4, 7, 9]);
    expect(
      evaluateConfig(given.evidence.window, decided.tune.thresholds, costs).agreement,
    ).toBeGreaterThanOrEqual(decided.tune.target);
    // ... a utility entry closed per 64 inputs, and the raised thresholds are worth a version
    expect(decided.memory.utility.history.every((entries) => entries.length === 8)).toBe(true);
    expect(decided.adjustment.rampsChanged).toBe(false);
    expect(decided.thresholds).toEqual(decided.tune.thresholds);
    expect(decided.thresholds.some((t) => t > 0)).toBe(true);
    expect(decided.publish).toBe(true);
    // And the input was left as it was, and the same input decides the same again
    expect(JSON.stringify(given.memory)).toBe(frozen);
    expect(decideScheduled(given)).toEqual(decided);
  });

  it('raises headroom after a shortfall, never past 1 − constraint', () => {
    // Given served batches that agreed on 95% of inputs, below the 99% constraint
    const short = servedAtZero(8).map((batch) => ({ ...batch, correct: 61 }));
    const decided = decideScheduled(input({ evidence: { ...input().evidence, served: short } }));

    // Then the headroom rose by the shortfall (gain 1), capped at 1 − 0.99
    if (decided.kind !== 'decided') throw new Error(`expected a decision, got ${decided.kind}`);
    expect(decided.served.agreement).toBeCloseTo(61 / 64, 12);
    expect(decided.memory.headroom).toBeCloseTo(0.01, 12);
    expect(decided.tune.target).toBe(1);
  });

  it('only folds the histories when the window is too small for a tune', () => {
    // Given a window of 40 inputs (a tune needs 64)
    const decided = decideScheduled(
      input({
        evidence: {
          served: servedAtZero(1),
          window: syntheticWindow({ seed: 1, inputs: 40, ramps: 4 }),
          batchSize: 8,
        },
      }),
    );

    // Then nothing was tuned, the headroom stayed, and the served batch was kept
    expect(decided.kind).toBe('too-few-inputs');
    expect(decided.memory.headroom).toBe(0.01);
    expect(decided.memory.served).toEqual([{ inputs: 64, correct: 64 }]);
  });

  it('proposes nothing new when the thresholds rose by less than the minimum increase', () => {
    // Given a minimum increase of 1 (no rise counts) and the ramps kept
    const decided = decideScheduled(input({ settings: { ...settings, minThresholdIncrease: 1 } }));

    // Then the tune is reported but not worth a version unless the ramps changed
    if (decided.kind !== 'decided') throw new Error(`expected a decision, got ${decided.kind}`);
    expect(decided.publish).toBe(decided.adjustment.rampsChanged);
  });

  it('retunes surviving ramps and starts new ones at 0 when the adjuster moves ramps, with a fresh utility history', () => {
    // Given an adjuster that acts on the utility history at once
    const decided = decideScheduled(input({ settings: { ...settings, adjuster: { minHistory: 1 } } }));

    // Then, when it moved ramps, new ramps start at 0, survivors keep a tuned threshold, and the history restarts
    if (decided.kind !== 'decided') throw new Error(`expected a decision, got ${decided.kind}`);
    expect(decided.adjustment.rampsChanged).toBe(true);
    expect(decided.publish).toBe(true);
    const added = decided.ramps.flatMap((id, k) => (rampIds.includes(id) ? [] : [decided.thresholds[k]]));
    expect(added.length).toBeGreaterThan(0);
    expect(added.every((threshold) => threshold === 0)).toBe(true);
    expect(decided.memory.utility).toEqual(emptyUtility(decided.ramps));
  });
});
