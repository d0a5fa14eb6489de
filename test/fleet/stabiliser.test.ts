import { PlanStabiliser } from '../../core/fleet/stabiliser';

describe('plan stabiliser', () => {
  it('re-plans at once for more load and only after the stabilisation interval for less', () => {
    // Given a stabiliser of four decisions that planned for 100 req/s
    const stabiliser = new PlanStabiliser(4);
    expect(stabiliser.shouldReplan(100)).toBe(true);

    // When the forecast dips for four decisions, nothing changes; the fifth re-plans
    expect([90, 80, 85, 70].map((f) => stabiliser.shouldReplan(f))).toEqual([false, false, false, false]);
    expect(stabiliser.shouldReplan(60)).toBe(true);

    // And a rise re-plans immediately, as does a forced re-plan (a variant lost)
    expect(stabiliser.shouldReplan(61)).toBe(true);
    expect(stabiliser.shouldReplan(50, true)).toBe(true);
  });
});
