import {
  configCosts,
  configCostsAt,
  costsAtBatch,
  latestUsefulIndex,
  rampBudgetMs,
  validateProfile,
} from '../../core/control/costs';
import { InputError } from '../../core/errors';

const profile = {
  batchSizes: [1, 4, 8],
  referenceBatchSize: 4,
  plainMs: [10, 20, 30],
  candidates: [
    { id: 'a', backboneMs: [2, 4, 6], rampMs: [0.1, 0.2, 0.3] },
    { id: 'b', backboneMs: [6, 12, 18], rampMs: [0.1, 0.2, 0.3] },
    { id: 'c', backboneMs: [9.95, 19.9, 29.85], rampMs: [0.1, 0.2, 0.3] },
  ],
};

describe('cost model', () => {
  it('costs a batch at the next profiled size, and scales beyond the largest', () => {
    expect(costsAtBatch(profile, 3).plainMs).toBe(20);
    expect(costsAtBatch(profile, 4).plainMs).toBe(20);
    expect(costsAtBatch(profile, 16).plainMs).toBe(60);
  });

  it('adds the costs of every active ramp up to an exit, and of all of them to the end', () => {
    // Given ramps a and b active at batch 4
    const costs = configCosts(costsAtBatch(profile, 4), [0, 1]);

    // Then exits come after 4 + 0.2 and 12 + 0.4 ms, the end after 20 + 0.4 ms
    expect(costs.exitMs[0]).toBeCloseTo(4.2, 12);
    expect(costs.exitMs[1]).toBeCloseTo(12.4, 12);
    expect(costs.finalMs).toBeCloseTo(20.4, 12);
    expect(costs.rampMs).toEqual([0.2, 0.2]);
    expect(configCostsAt(profile, [], 1)).toEqual({ exitMs: [], finalMs: 10, plainMs: 10, rampMs: [] });
  });

  it('finds the latest candidate whose exit still beats the plain model, and the budget in ms', () => {
    expect(latestUsefulIndex(profile)).toBe(1);
    expect(rampBudgetMs(profile, 0.02)).toBeCloseTo(0.4, 12);
  });

  it('rejects profiles whose arrays disagree', () => {
    expect(() => validateProfile({ ...profile, plainMs: [10, 20] })).toThrow(InputError);
    expect(() => validateProfile({ ...profile, batchSizes: [4, 1, 8] })).toThrow(InputError);
    expect(() => validateProfile({ ...profile, referenceBatchSize: 2 })).toThrow(InputError);
    expect(() => configCosts(costsAtBatch(profile, 1), [3])).toThrow(InputError);
  });
});
