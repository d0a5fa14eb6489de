/**
 * The fleet simulator: replays a per-second request-rate trace through a fleet of workers that a
 * policy resizes every interval. Each second the dispatcher splits the offered rate across the
 * variants by the current plan's weights; what one worker of a variant does at its share of the
 * rate comes from the variant's measured curve (`variant-profile.ts`), which the per-worker replay
 * (batching, queueing, exits and their control loops) produced. New workers serve only after their
 * start-up and model loading time; workers a plan removes keep serving until the plan's new workers
 * are ready (make before break); a variant that fails to load never becomes ready and is reported
 * to the policy as unavailable. Pure: no clock, no I/O.
 */
import { InputError } from '../errors';
import { addWeighted, HISTOGRAM_BINS, histogramQuantile } from './latency-histogram';
import type { FleetPlan } from './plan';
import {
  exitKey,
  pointAt,
  type ExitSetting,
  type SettingProfile,
  type TaskProfiles,
  type VariantProfile,
} from './variant-profile';

/** What a policy wants: per variant, an exit setting, a worker count and a dispatch weight. */
export interface FleetTarget {
  readonly groups: readonly { variant: string; exits: ExitSetting; workers: number; weight: number }[];
  /** The capacity the policy believes it planned (for plots), req/s. */
  readonly plannedCapacityRps: number;
  readonly plan?: FleetPlan;
}

export interface DecisionContext {
  readonly second: number;
  /** Peak per-second rate of each past interval, oldest first. */
  readonly peaks: readonly number[];
  /** Mean rate of each past interval, oldest first. */
  readonly means: readonly number[];
  /** Workers per variant now (ready, loading and retiring together). */
  readonly workers: ReadonlyMap<string, number>;
  readonly unavailable: ReadonlySet<string>;
  /** The whole replayed series: only the static policy (provisioned for the known peak) reads it. */
  readonly series: ArrayLike<number>;
}

export interface FleetPolicy {
  readonly name: string;
  decide(context: DecisionContext): FleetTarget;
}

export interface FleetSimOptions {
  readonly profiles: TaskProfiles;
  /** Offered requests per second, one entry per second. */
  readonly ratePerSecond: ArrayLike<number>;
  readonly intervalSeconds: number;
  /** Instance start before the model loads (boot, container, sessions), s. */
  readonly workerStartSeconds: number;
  /** Variants whose workers fail to load from the given second on. */
  readonly failures?: readonly { variant: string; fromSecond: number }[];
}

export interface FleetTimelinePoint {
  readonly second: number;
  readonly offeredRps: number;
  readonly plannedCapacityRps: number;
  /** Capacity at the SLO of the workers serving during the interval (ready ones), req/s. */
  readonly servingCapacityRps: number;
  readonly workers: number;
  /** Workers per variant (all settings). */
  readonly mix: Readonly<Record<string, number>>;
}

export interface FleetResult {
  readonly policy: string;
  readonly requests: number;
  readonly sloViolationPct: number;
  readonly workerHours: number;
  readonly accuracy: number;
  readonly agreement: number;
  readonly latencyMs: { readonly p50: number; readonly p95: number };
  readonly reconfigurations: number;
  /** Decisions whose plan said it could not meet the forecast. */
  readonly infeasibleDecisions: number;
  readonly timeline: readonly FleetTimelinePoint[];
}

interface VariantState {
  exits: ExitSetting;
  ready: number;
  /** Workers loading, each with the second it becomes ready. */
  pending: number[];
  /** Workers the current plan removed, kept until the plan's new workers are ready. */
  retiring: number;
}

function settingOf(variant: VariantProfile, exits: ExitSetting): SettingProfile {
  const key = exitKey(exits);
  const found = variant.settings.find((s) => exitKey(s.exits) === key);
  if (!found) throw new InputError(`variant ${variant.name} has no profile for exits ${key}`);
  return found;
}

/** Runs one policy over the series. */
export function simulateFleet(policy: FleetPolicy, options: FleetSimOptions): FleetResult {
  const { profiles, ratePerSecond, intervalSeconds } = options;
  if (!(Number.isInteger(intervalSeconds) && intervalSeconds >= 1))
    throw new InputError(`intervalSeconds must be a whole number ≥ 1, got ${intervalSeconds}`);
  const variants = new Map(profiles.variants.map((v) => [v.name, v]));
  const state = new Map<string, VariantState>();
  const peaks: number[] = [];
  const means: number[] = [];
  const histogram = new Array<number>(HISTOGRAM_BINS).fill(0);
  const timeline: FleetTimelinePoint[] = [];
  let offered = 0;
  let violations = 0;
  let served = 0;
  let correct = 0;
  let agreeing = 0;
  let workerSeconds = 0;
  let reconfigurations = 0;
  let infeasible = 0;
  let previousKey = '';
  let target: FleetTarget = { groups: [], plannedCapacityRps: 0 };
  const failedAt = (name: string, second: number) =>
    (options.failures ?? []).some((f) => f.variant === name && second >= f.fromSecond);

  for (let second = 0; second < ratePerSecond.length; second++) {
    if (second % intervalSeconds === 0) {
      const unavailable = new Set(profiles.variants.map((v) => v.name).filter((n) => failedAt(n, second)));
      const workers = new Map(
        [...state].map(([name, s]) => [name, s.ready + s.pending.length + s.retiring] as const),
      );
      target = policy.decide({ second, peaks, means, workers, unavailable, series: ratePerSecond });
      if (target.plan && !target.plan.feasible) infeasible++;
      const key = target.groups
        .filter((g) => g.workers > 0)
        .map((g) => `${g.variant}/${exitKey(g.exits)}x${g.workers}`)
        .sort()
        .join(',');
      if (key !== previousKey && second > 0) reconfigurations++;
      previousKey = key;
      for (const name of variants.keys()) {
        const group = target.groups.find((g) => g.variant === name);
        const want = group?.workers ?? 0;
        const s = state.get(name) ?? { exits: group?.exits ?? 'off', ready: 0, pending: [], retiring: 0 };
        if (group) s.exits = group.exits;
        const have = s.ready + s.pending.length;
        // The very first decision finds a warm fleet: the replay starts in a steady state.
        const startsAt =
          second === 0 ? 0 : second + options.workerStartSeconds + (variants.get(name)?.loadSeconds ?? 0);
        if (want > have) for (let k = have; k < want; k++) s.pending.push(startsAt);
        else if (want < have) {
          let surplus = have - want;
          while (surplus > 0 && s.pending.length > 0) {
            s.pending.pop();
            surplus--;
          }
          s.ready -= surplus;
          s.retiring += surplus;
        }
        state.set(name, s);
      }
    }
    // Workers become ready; a failed variant's never do.
    let anyPending = false;
    for (const [name, s] of state) {
      if (failedAt(name, second)) {
        s.pending = [];
        continue;
      }
      const nowReady = s.pending.filter((at) => at <= second).length;
      if (nowReady > 0) {
        s.ready += nowReady;
        s.pending = s.pending.filter((at) => at > second);
      }
      if (s.pending.length > 0) anyPending = true;
    }
    if (!anyPending) for (const s of state.values()) s.retiring = 0;

    const rate = ratePerSecond[second] as number;
    offered += rate;
    // Dispatcher: the plan's weights over ready workers; what is not ready yet goes to whoever
    // serves (the previous plan's workers), in proportion to their capacity.
    const shares = new Map<string, number>();
    let assigned = 0;
    for (const g of target.groups) {
      const s = state.get(g.variant);
      if (!s || g.workers <= 0) continue;
      const share = g.weight * Math.min(1, s.ready / g.workers);
      shares.set(g.variant, share);
      assigned += share;
    }
    const capacityOf = (name: string, s: VariantState) =>
      (s.ready + s.retiring) * settingOf(variants.get(name) as VariantProfile, s.exits).capacityRps;
    let spare = 0;
    for (const [name, s] of state) spare += capacityOf(name, s);
    if (assigned < 1 && spare > 0) {
      for (const [name, s] of state)
        shares.set(name, (shares.get(name) ?? 0) + ((1 - assigned) * capacityOf(name, s)) / spare);
    }
    let servingCapacity = 0;
    let workersNow = 0;
    const mix: Record<string, number> = {};
    let handled = 0;
    for (const [name, s] of state) {
      const serving = s.ready + s.retiring;
      workersNow += serving + s.pending.length;
      mix[name] = serving + s.pending.length;
      const variant = variants.get(name) as VariantProfile;
      const setting = settingOf(variant, s.exits);
      servingCapacity += serving * setting.capacityRps;
      const x = rate * (shares.get(name) ?? 0);
      if (x <= 0) continue;
      if (serving === 0) {
        violations += x;
        handled += x;
        continue;
      }
      const { violationPct, mix: points } = pointAt(setting.curve, x / serving);
      violations += (x * violationPct) / 100;
      handled += x;
      for (const { point, weight } of points) {
        const ok = x * weight * (1 - point.droppedPct / 100);
        addWeighted(histogram, point.histogram, ok);
        served += ok;
        correct += ok * setting.accuracy;
        agreeing += ok * setting.agreement;
      }
    }
    // Requests no worker could take (an empty fleet) are violations too.
    if (handled < rate) violations += rate - handled;
    workerSeconds += workersNow;
    if (second % intervalSeconds === 0) {
      timeline.push({
        second,
        offeredRps: rate,
        plannedCapacityRps: target.plannedCapacityRps,
        servingCapacityRps: servingCapacity,
        workers: workersNow,
        mix,
      });
    } else {
      const last = timeline[timeline.length - 1];
      if (last) (last as { offeredRps: number }).offeredRps = Math.max(last.offeredRps, rate);
    }
    // Interval statistics the next decision sees.
    const k = Math.floor(second / intervalSeconds);
    peaks[k] = Math.max(peaks[k] ?? 0, rate);
    means[k] = (means[k] ?? 0) + rate / intervalSeconds;
  }
  return {
    policy: policy.name,
    requests: offered,
    sloViolationPct: (100 * violations) / Math.max(1e-9, offered),
    workerHours: workerSeconds / 3600,
    accuracy: correct / Math.max(1e-9, served),
    agreement: agreeing / Math.max(1e-9, served),
    latencyMs: { p50: histogramQuantile(histogram, 0.5), p95: histogramQuantile(histogram, 0.95) },
    reconfigurations,
    infeasibleDecisions: infeasible,
    timeline,
  };
}
