/**
 * The fleet policies the benchmark compares, all over the same measured profiles:
 *
 * - `static`: the most accurate variant, exits off, provisioned once for the replay's known peak;
 * - `reactive`: the most accurate variant, exits off, target tracking on utilisation like the
 *   deployed Auto Scaling group (scale out at once, scale in after 15 quiet minutes);
 * - `infadapter`: forecast + planner over variants and worker counts, exits off;
 * - `apparate`: the most accurate variant with exits on, target tracking;
 * - `combined`: forecast + planner over variants, worker counts and exit settings.
 */
import type { Forecaster } from './forecast';
import { FORECAST_MARGIN } from './forecast';
import type { FleetPolicy, FleetTarget } from './fleet-sim';
import type { FleetPlan } from './plan';
import { planFleet, planningOptions, type PlannerSettings } from './planner';
import { PlanStabiliser } from './stabiliser';
import { exitKey, type ExitSetting, type TaskProfiles } from './variant-profile';

export const FLEET_POLICY_NAMES = ['static', 'reactive', 'infadapter', 'apparate', 'combined'] as const;
export type FleetPolicyName = (typeof FLEET_POLICY_NAMES)[number];

/** Target utilisation of target tracking (of capacity at the SLO). */
export const TARGET_UTILISATION = 0.7;
/** Intervals of lower demand before target tracking scales in (AWS: 15 one-minute datapoints). */
export const SCALE_IN_INTERVALS = 15;

function mostAccurate(profiles: TaskProfiles, unavailable: ReadonlySet<string>) {
  return [...profiles.variants]
    .filter((v) => !unavailable.has(v.name))
    .sort((a, b) => b.accuracy - a.accuracy)[0];
}

function capacityOf(profiles: TaskProfiles, variant: string, exits: ExitSetting): number {
  const v = profiles.variants.find((x) => x.name === variant);
  return v?.settings.find((s) => exitKey(s.exits) === exitKey(exits))?.capacityRps ?? 0;
}

function single(variant: string, exits: ExitSetting, workers: number, capacity: number): FleetTarget {
  return { groups: [{ variant, exits, workers, weight: 1 }], plannedCapacityRps: workers * capacity };
}

/** Provisioned once for the known peak of the whole replay. */
export function staticPolicy(profiles: TaskProfiles, maxWorkers: number): FleetPolicy {
  let fixed: FleetTarget | undefined;
  return {
    name: 'static',
    decide({ series, unavailable }) {
      if (fixed) return fixed;
      const best = mostAccurate(profiles, unavailable);
      if (!best) return { groups: [], plannedCapacityRps: 0 };
      let peak = 0;
      for (let i = 0; i < series.length; i++) peak = Math.max(peak, series[i] as number);
      const capacity = capacityOf(profiles, best.name, 'off');
      const workers = Math.min(maxWorkers, Math.max(1, Math.ceil(peak / capacity)));
      fixed = single(best.name, 'off', workers, capacity);
      return fixed;
    },
  };
}

/** Target tracking of one variant at one exit setting (reactive autoscaling). */
export function targetTrackingPolicy(
  name: string,
  profiles: TaskProfiles,
  exits: ExitSetting,
  maxWorkers: number,
): FleetPolicy {
  let workers = 0;
  let lowerFor = 0;
  return {
    name,
    decide({ means, peaks, unavailable, series }) {
      const best = mostAccurate(profiles, unavailable);
      if (!best) return { groups: [], plannedCapacityRps: 0 };
      const capacity = capacityOf(profiles, best.name, exits);
      // Before any interval has been seen, size for the first second's rate.
      const observed = means.length > 0 ? (means[means.length - 1] as number) : ((series[0] as number) ?? 0);
      void peaks;
      const desired = Math.min(
        maxWorkers,
        Math.max(1, Math.ceil(observed / (TARGET_UTILISATION * capacity))),
      );
      if (desired > workers || workers === 0) {
        workers = desired;
        lowerFor = 0;
      } else if (desired < workers) {
        lowerFor++;
        if (lowerFor >= SCALE_IN_INTERVALS) {
          workers = desired;
          lowerFor = 0;
        }
      } else lowerFor = 0;
      return single(best.name, exits, workers, capacity);
    },
  };
}

/** Forecast, stabilise, plan: InfAdapter's loop, with or without exit settings among the options. */
export function plannerPolicy(
  name: string,
  profiles: TaskProfiles,
  forecaster: Forecaster,
  settings: PlannerSettings,
  options: {
    exits: boolean;
    stabilisationIntervals?: number;
    onDecision?: (ms: number, plan: FleetPlan) => void;
    clock?: () => number;
  },
): FleetPolicy {
  const stabiliser = new PlanStabiliser(options.stabilisationIntervals ?? 4);
  const planning = planningOptions(profiles, { exits: options.exits });
  let current: FleetPlan | undefined;
  let lastUnavailable = '';
  return {
    name,
    decide({ peaks, workers, unavailable, series }) {
      const history = peaks.length > 0 ? peaks : [(series[0] as number) ?? 0];
      const forecastRps = forecaster.predict(history) * (1 + FORECAST_MARGIN);
      const unavailableKey = [...unavailable].sort().join(',');
      const lostVariant = unavailableKey !== lastUnavailable;
      lastUnavailable = unavailableKey;
      if (current && !stabiliser.shouldReplan(forecastRps, lostVariant)) {
        return { groups: current.groups, plannedCapacityRps: current.capacityRps, plan: current };
      }
      const began = options.clock?.() ?? 0;
      const plan = planFleet({
        task: profiles.task,
        forecastRps,
        options: planning,
        current: workers,
        unavailable,
        settings,
      });
      options.onDecision?.((options.clock?.() ?? 0) - began, plan);
      current = plan;
      return { groups: plan.groups, plannedCapacityRps: plan.capacityRps, plan };
    },
  };
}
