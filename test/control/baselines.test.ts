import { chooseConfig, offlineOptimal, onlineOptimal, staticEarlyExit } from '../../core/control/baselines';
import { configCostsAt, costsAtBatch, latestUsefulIndex, rampBudgetMs } from '../../core/control/costs';
import { evaluateConfig, meetsConstraint } from '../../core/control/exit-rule';
import { emptyWindow, sliceWindow, windowFromRows } from '../../core/control/records';
import { syntheticProfile, syntheticWindow } from '../../core/control/synthetic';

describe('offline optimal', () => {
  it('releases each input at its first agreeing candidate, never slower than the plain model', () => {
    // Given three candidates at 2, 5 and 9.5 ms in a 9 ms model
    const observations = windowFromRows([
      { confidence: [0.1, 0.1, 0.1], agrees: [0, 1, 1] },
      { confidence: [0.1, 0.1, 0.1], agrees: [0, 0, 1] },
      { confidence: [0.1, 0.1, 0.1], agrees: [0, 0, 0] },
      { confidence: [0.1, 0.1, 0.1], agrees: [1, 0, 1] },
    ]);

    // When the oracle serves them
    const served = offlineOptimal(observations, { backboneMs: [2, 5, 9.5], plainMs: 9 });

    // Then input 0 leaves at c1, inputs 1 and 2 take the plain model, input 3 leaves at c0
    expect(Array.from(served.exitIndex)).toEqual([1, -1, -1, 0]);
    expect(Array.from(served.latencyMs)).toEqual([5, 9, 9, 2]);
  });
});

describe('static early exit', () => {
  it('tunes every candidate once, per ramp and with one shared threshold, both within the constraint', () => {
    const bootstrap = syntheticWindow({ inputs: 400, ramps: 6, seed: 4 });
    const profile = syntheticProfile(6);
    const costs = configCostsAt(profile, [0, 1, 2, 3, 4, 5], 8);

    const result = staticEarlyExit(bootstrap, costs);

    expect(result.perRamp.evaluation.agreement).toBeGreaterThanOrEqual(0.99);
    expect(result.shared.evaluation.agreement).toBeGreaterThanOrEqual(0.99);
    expect(new Set(result.shared.thresholds)).toEqual(new Set([result.shared.threshold]));
    // The shared threshold is the fastest one on the grid: one step more either breaks the
    // constraint or saves nothing
    const next = evaluateConfig(
      bootstrap,
      result.shared.thresholds.map((t) => t + 0.001),
      costs,
    );
    expect(
      !meetsConstraint(next.agreement, 0.99) || next.meanLatencyMs >= result.shared.evaluation.meanLatencyMs,
    ).toBe(true);
    expect(result.perRamp.evaluation.savingsFraction).toBeGreaterThan(0);
  });
});

describe('online optimal', () => {
  const profile = syntheticProfile(10);

  it('chooses no ramps without a past, and a config within budget and range otherwise', () => {
    expect(chooseConfig(emptyWindow(10), profile, 8).active).toEqual([]);
    const chosen = chooseConfig(syntheticWindow({ inputs: 256, ramps: 10, seed: 6 }), profile, 8);
    expect(chosen.active.length).toBeGreaterThan(0);
    expect(chosen.evaluation.agreement).toBeGreaterThanOrEqual(0.99);
    expect(chosen.evaluation.savingsFraction).toBeGreaterThan(0);
  });

  it('serves every batch with the best config for the batches before it', () => {
    // Given 60 batches of 8
    const all = syntheticWindow({ inputs: 480, ramps: 10, seed: 9 });
    const batches = Array.from({ length: 60 }, (_, b) => ({
      observations: sliceWindow(all, b * 8, b * 8 + 8),
      batchSize: 8,
    }));

    // When served by the online optimal over the past 16 batches
    const served = onlineOptimal(batches, profile, { pastBatches: 16 });

    // Then the first batch runs the plain model, every config fits the budget and range, and
    // latency falls below the plain model's overall
    expect(served[0]?.active).toEqual([]);
    const budget = rampBudgetMs(profile, 0.02);
    const reference = costsAtBatch(profile, 8);
    for (const batch of served) {
      expect(batch.active.reduce((sum, c) => sum + (reference.rampMs[c] as number), 0)).toBeLessThanOrEqual(
        budget + 1e-9,
      );
      for (const c of batch.active) expect(c).toBeLessThanOrEqual(latestUsefulIndex(profile));
      for (const exit of batch.exitIndex) expect(exit === -1 || batch.active.includes(exit)).toBe(true);
    }
    const latencies = served.flatMap((batch) => Array.from(batch.latencyMs));
    expect(latencies.reduce((sum, ms) => sum + ms, 0) / latencies.length).toBeLessThan(reference.plainMs);
  });
});
