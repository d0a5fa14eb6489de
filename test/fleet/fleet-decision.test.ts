/**
 * The stateless fleet decision the scheduled controllers run: the published plan is its memory, so
 * a rise re-plans at once and a fall waits until the plan is four periods old.
 */
import { decideFleet, type FleetDecisionInput } from '../../core/fleet/fleet-decision';
import { lastPeakForecaster } from '../../core/fleet/forecast';
import { planningOptions } from '../../core/fleet/planner';
import { readTaskProfiles } from '../../core/fleet/profiles-location';
import type { PlanningOption } from '../../core/fleet/planner';

let options: PlanningOption[];
beforeAll(async () => {
  options = planningOptions(await readTaskProfiles('mnist'));
});

const input = (extra: Partial<FleetDecisionInput>): FleetDecisionInput => ({
  task: 'digits',
  nowMs: 0,
  periodMs: 60_000,
  peaks: [1000],
  forecaster: lastPeakForecaster,
  latest: undefined,
  options,
  settings: { maxWorkers: 24 },
  ...extra,
});

describe('fleet decision', () => {
  it('plans version 0 first, for the forecast plus the 10% margin, and at zero load keeps a worker', () => {
    const first = decideFleet(input({ nowMs: 5 }));
    expect(first.kind).toBe('replanned');
    expect(first.plan.version).toBe(0);
    expect(first.plan.decidedAtMs).toBe(5);
    expect(first.forecastRps).toBeCloseTo(1100, 9);
    expect(first.plan.plan.forecastRps).toBeCloseTo(1100, 9);
    const idle = decideFleet(input({ peaks: [] }));
    expect(idle.plan.plan.groups.reduce((sum, g) => sum + g.workers, 0)).toBe(1);
  });

  it('re-plans a rise at once and a fall only once the plan is four periods old', () => {
    const first = decideFleet(input({ peaks: [1000] })).plan;
    const rise = decideFleet(input({ peaks: [3000], latest: first, nowMs: 60_000 }));
    expect(rise.kind).toBe('replanned');
    expect(rise.plan.version).toBe(1);
    expect(rise.plan.plan.capacityRps).toBeGreaterThanOrEqual(3300);

    const fallSoon = decideFleet(input({ peaks: [200], latest: rise.plan, nowMs: 60_000 + 3 * 60_000 }));
    expect(fallSoon.kind).toBe('kept');
    expect(fallSoon.plan).toBe(rise.plan);
    const fallLater = decideFleet(input({ peaks: [200], latest: rise.plan, nowMs: 60_000 + 4 * 60_000 }));
    expect(fallLater.kind).toBe('replanned');
    expect(fallLater.plan.version).toBe(2);
    expect(fallLater.plan.plan.forecastRps).toBeCloseTo(220, 9);
  });
});
