import loadHighs, { type Highs } from 'highs';
import { InputError } from '../../core/errors';
import { parseFleetPlan } from '../../core/fleet/plan';
import {
  groupLabel,
  planFleet,
  planningOptions,
  type PlanRequest,
  type PlanningOption,
} from '../../core/fleet/planner';
import { planFleetMilp } from '../../core/fleet/planner-milp';
import { readTaskProfiles } from '../../core/fleet/profiles-location';
import type { TaskProfiles } from '../../core/fleet/variant-profile';

/** A family like the digits one: a large accurate variant, exits that buy capacity, a cheap one. */
const FAMILY: PlanningOption[] = [
  { variant: 'large', exits: 'off', capacityRps: 100, accuracy: 0.993, loadSeconds: 2 },
  { variant: 'large', exits: { constraint: 0.99 }, capacityRps: 125, accuracy: 0.985, loadSeconds: 2 },
  { variant: 'medium', exits: 'off', capacityRps: 250, accuracy: 0.985, loadSeconds: 1 },
  { variant: 'small', exits: 'off', capacityRps: 600, accuracy: 0.97, loadSeconds: 0.5 },
];

/**
 * The same family with mean latencies: exits on the large variant cut its latency by 40%, and a
 * strict exit setting on the medium one costs little accuracy for a third of its latency.
 */
const TIMED: PlanningOption[] = [
  { ...(FAMILY[0] as PlanningOption), latencyMs: 20 },
  { ...(FAMILY[1] as PlanningOption), latencyMs: 12 },
  { ...(FAMILY[2] as PlanningOption), latencyMs: 6 },
  {
    variant: 'medium',
    exits: { constraint: 0.999 },
    capacityRps: 245,
    accuracy: 0.9848,
    loadSeconds: 1,
    latencyMs: 4,
  },
  { ...(FAMILY[3] as PlanningOption), latencyMs: 2 },
];
const SLO_MS = 60;

const request = (forecastRps: number, extra: Partial<PlanRequest> = {}): PlanRequest => ({
  task: 'digits',
  forecastRps,
  options: FAMILY,
  settings: { maxWorkers: 20 },
  ...extra,
});

describe('fleet planner', () => {
  let highs: Highs;
  let profiles: TaskProfiles;
  beforeAll(async () => {
    highs = await loadHighs();
    profiles = await readTaskProfiles('mnist');
  });

  it.each([40, 350, 1300, 4200])(
    'finds the same optimum by exhaustive search as the HiGHS MILP solver at %d req/s',
    (forecastRps) => {
      // Given the same instance, with some workers already running
      const given = request(forecastRps, { current: new Map([['medium', 2]]) });

      // When both solve it
      const searched = planFleet(given);
      const solved = planFleetMilp(highs, given);

      // Then the objective values agree and the plan carries the forecast at the SLO
      expect(searched.objective.value).toBeCloseTo(solved.objective.value, 9);
      expect(searched.capacityRps).toBeGreaterThanOrEqual(forecastRps);
      expect(searched.feasible).toBe(true);
      expect(searched.groups.reduce((s, g) => s + g.weight, 0)).toBeCloseTo(1, 9);
      expect(() => parseFleetPlan(searched)).not.toThrow();
    },
  );

  it.each([40, 350, 1300, 4200])(
    'agrees with the HiGHS MILP solver with a latency term at %d req/s',
    (forecastRps) => {
      // Given the timed family and a latency weight
      const given = request(forecastRps, {
        options: TIMED,
        current: new Map([['large', 1]]),
        settings: { maxWorkers: 20, latencyWeight: 0.2, sloMs: SLO_MS },
      });

      // When both solve it
      const searched = planFleet(given);
      const solved = planFleetMilp(highs, given);

      // Then the objective values agree, and the plan reports the latency it expects
      expect(searched.objective.value).toBeCloseTo(solved.objective.value, 9);
      expect(searched.capacityRps).toBeGreaterThanOrEqual(forecastRps);
      const expected = searched.groups.reduce((sum, g) => {
        const option = TIMED.find((o) => o.variant === g.variant && groupLabel(o) === groupLabel(g));
        return sum + g.weight * (option?.latencyMs ?? Number.NaN);
      }, 0);
      expect(searched.objective.latencyMs).toBeCloseTo(expected, 9);
      expect(() => parseFleetPlan(searched)).not.toThrow();
    },
  );

  it('turns exits on when the objective values latency, and keeps InfAdapter’s choice without it', () => {
    // Given a load the medium variant serves
    const without = planFleet(request(700, { options: TIMED }));
    const withLatency = planFleet(
      request(700, { options: TIMED, settings: { maxWorkers: 20, latencyWeight: 0.2, sloMs: SLO_MS } }),
    );

    // Then InfAdapter's objective keeps exits off; with the latency term the strict exit setting
    // wins (0.02 points of accuracy for 2 ms of mean latency), and its lower accuracy is reported as such
    expect(without.groups.map(groupLabel)).toEqual(['medium off']);
    expect(withLatency.groups.map(groupLabel)).toEqual(['medium on@0.999']);
    expect(withLatency.objective.accuracy).toBeCloseTo(0.9848, 9);
    expect(withLatency.objective.latencyMs).toBeCloseTo(4, 9);
  });

  it('moves to cheaper variants as the load grows, as InfAdapter does', () => {
    // Given a light and a heavy forecast
    const light = planFleet(request(50));
    const heavy = planFleet(request(5000));

    // Then the light one serves everything with the most accurate variant, the heavy one mixes in cheaper ones
    expect(light.groups).toEqual([
      expect.objectContaining({ variant: 'large', exits: 'off', workers: 1, weight: 1 }),
    ]);
    expect(heavy.objective.accuracy).toBeLessThan(light.objective.accuracy);
    expect(heavy.groups.some((g) => g.variant === 'small')).toBe(true);
  });

  it('answers a forecast beyond the budget with the best degraded plan and says so', () => {
    // Given a forecast no 20 workers can serve (20 × 600 = 12,000 req/s at most)
    const plan = planFleet(request(50_000));

    // Then it is a plan, not an exception: all workers on the highest-capacity option, flagged and explained
    expect(plan.feasible).toBe(false);
    expect(plan.degraded).toMatch(
      /forecast 50000\.0 req\/s exceeds the 12000\.0 req\/s that 20 workers can serve/,
    );
    expect(plan.plannedRps).toBeCloseTo(12_000, 6);
    expect(plan.capacityRps).toBeCloseTo(12_000, 6);
    expect(plan.objective.workers).toBe(20);
    expect(() => parseFleetPlan(plan)).not.toThrow();
  });

  it('keeps the minimum fleet of the most accurate variant at zero load', () => {
    // When nothing is forecast
    const plan = planFleet(request(0, { settings: { maxWorkers: 20, minWorkers: 1 } }));

    // Then one worker of the most accurate option stays, with all the weight, and nothing is degraded
    expect(plan.feasible).toBe(true);
    expect(plan.degraded).toBeUndefined();
    expect(plan.plannedRps).toBe(0);
    expect(plan.groups).toEqual([
      expect.objectContaining({ variant: 'large', exits: 'off', workers: 1, weight: 1, loadRps: 0 }),
    ]);
  });

  it('plans around a variant that failed to load, and degrades when none is left', () => {
    // Given the large variant failed to load
    const without = planFleet(request(50, { unavailable: new Set(['large']) }));

    // Then the plan uses the next most accurate one
    expect(without.groups.map((g) => g.variant)).toEqual(['medium']);

    // And with every variant gone, an empty plan says why
    const none = planFleet(request(50, { unavailable: new Set(['large', 'medium', 'small']) }));
    expect(none.groups).toEqual([]);
    expect(none.feasible).toBe(false);
    expect(none.degraded).toMatch(
      /no variant can serve: every variant \(large, medium, small\) is unavailable/,
    );
  });

  it('rejects settings that make no sense with errors naming what is allowed', () => {
    expect(() => planFleet(request(-1))).toThrow(
      new InputError('forecastRps must be a finite number ≥ 0, got -1'),
    );
    expect(() => planFleet(request(10, { settings: { maxWorkers: 0 } }))).toThrow(
      /maxWorkers must be an integer ≥ 1, got 0/,
    );
    expect(() => planFleet(request(10, { settings: { maxWorkers: 4, minWorkers: 5 } }))).toThrow(
      /minWorkers must be an integer in \[0, maxWorkers\], got 5/,
    );
    expect(() => planFleet(request(10, { settings: { maxWorkers: 4, latencyWeight: -1 } }))).toThrow(
      /latencyWeight must be a finite number ≥ 0, got -1/,
    );
    expect(() =>
      planFleet(request(10, { options: TIMED, settings: { maxWorkers: 4, latencyWeight: 0.1 } })),
    ).toThrow(/a latencyWeight above 0 needs sloMs, a positive number of ms; got undefined/);
    expect(() =>
      planFleet(request(10, { settings: { maxWorkers: 4, latencyWeight: 0.1, sloMs: SLO_MS } })),
    ).toThrow(/needs every option's latencyMs \(≥ 0\); missing for large off, large on@0\.99, medium off/);
  });

  it('reads each option’s mean latency from its measured curve: exits lower it on the large variant', () => {
    // Given the committed digits profiles
    const options = planningOptions(profiles, { exits: true });
    const large = options.filter((o) => o.variant === 'mnist-resnet');
    const off = large.find((o) => o.exits === 'off');
    const on = large.find((o) => o.exits !== 'off');

    // Then every option has a latency, and exits on the large variant lower it
    expect(options.every((o) => (o.latencyMs ?? 0) > 0)).toBe(true);
    expect(on?.latencyMs).toBeLessThan(off?.latencyMs ?? 0);
  });

  it('plans the committed digits profiles at every load of the replayed day within its budget', () => {
    // Given the measured profiles of the digits family, exits allowed
    const options = planningOptions(profiles, { exits: true });
    const best = Math.max(...options.map((o) => o.capacityRps));

    // When the planner plans loads from idle to the budget's limit
    for (const share of [0, 0.1, 0.5, 0.9, 1.5]) {
      const plan = planFleet({
        task: 'mnist',
        forecastRps: share * 24 * best,
        options,
        settings: { maxWorkers: 24 },
      });

      // Then every plan is valid, and only the one past the budget is degraded
      expect(() => parseFleetPlan(plan)).not.toThrow();
      expect(plan.feasible).toBe(share <= 1);
      expect(plan.objective.workers).toBeGreaterThanOrEqual(1);
    }
  });
});
