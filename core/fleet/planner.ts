/**
 * The fleet planner: for one interval, how many workers serve each variant and, per variant,
 * whether exits are on and at which agreement constraint. It follows InfAdapter's formulation
 * (docs/fleet.md gives it in full), with an optional latency term (γ = 0 by default):
 *
 *   maximise   Σ_g (acc_g − γ · lat_g / SLO) · l_g / λ  −  α · Σ_g w_g / W
 *              −  β · Σ_v s_v · load_v / max_v load_v
 *   subject to l_g ≤ cap_g · w_g,  Σ_g l_g = λ,  Σ_g w_g ≤ W,  Σ_g w_g ≥ W_min,
 *              w_g ≤ W · y_g,  Σ_{g of v} y_g ≤ 1 (one exit setting per variant),
 *              s_v ≥ Σ_{g of v} w_g − current_v,  s_v ≥ 0
 *
 * over groups g = (variant, exit setting) with integer workers w_g, binary y_g, continuous load
 * l_g and started workers s_v. Unlike InfAdapter's greedy "most accurate first" fill, the load split
 * is a decision variable; the optimum fills the best-scoring capacity first anyway (score_g =
 * acc_g − γ · lat_g / SLO), because the score is the only term that depends on l. Exits change
 * cap_g, acc_g and lat_g (the mean latency of the option's answers), which is how the planner
 * learns what they buy on each variant. The latency term is linear because lat_g is a mean: the
 * mean latency of a traffic mix is the traffic-weighted mean of its groups'. It is solved exactly by exhaustive search (see
 * `planFleet`); `planner-milp.ts` states the same model for the HiGHS MILP solver, and the tests
 * check that both find the same optimum. Planning is pure: no I/O, no clock.
 *
 * A forecast beyond what W workers can serve is planned at the most they can serve, flagged
 * infeasible and explained, never thrown.
 */
import { InputError } from '../errors';
import type { FleetPlan, PlanGroup } from './plan';
import { exitKey, meanLatencyAt, type ExitSetting, type TaskProfiles } from './variant-profile';

/** One choice the planner can make: a variant at one exit setting. */
export interface PlanningOption {
  readonly variant: string;
  readonly exits: ExitSetting;
  /** One worker's capacity at the SLO, req/s. */
  readonly capacityRps: number;
  /** Label accuracy of the answers this option releases. */
  readonly accuracy: number;
  readonly loadSeconds: number;
  /**
   * Mean latency of the option's answers at a worker loaded to `LATENCY_UTILISATION` of its
   * capacity, ms; needed only when the latency weight is above zero.
   */
  readonly latencyMs?: number;
}

export interface PlannerSettings {
  /** Worker budget W. */
  readonly maxWorkers: number;
  /** Workers kept even at zero load, so the first request finds one (default 1). */
  readonly minWorkers?: number;
  /** Weight of the fleet's size as a fraction of the budget (InfAdapter: 0.05). */
  readonly alpha?: number;
  /** Weight of loading churn (InfAdapter: 0.001). */
  readonly beta?: number;
  /** Planned capacity = forecast / this; below 1 keeps headroom (InfAdapter derates by 0.8). */
  readonly capacityFactor?: number;
  /**
   * γ: how many points of accuracy a mean latency equal to the SLO is worth (default 0, InfAdapter's
   * objective). Above zero the planner trades accuracy for latency, which is what exits sell.
   */
  readonly latencyWeight?: number;
  /** The SLO the latency term is measured against, ms (needed when latencyWeight > 0). */
  readonly sloMs?: number;
}

export interface PlanRequest {
  readonly task: string;
  readonly forecastRps: number;
  readonly options: readonly PlanningOption[];
  /** Workers each variant has now (missing: none). */
  readonly current?: ReadonlyMap<string, number>;
  /** Variants that failed to load or are withdrawn: never planned. */
  readonly unavailable?: ReadonlySet<string>;
  readonly settings: PlannerSettings;
}

export const DEFAULT_ALPHA = 0.05;
export const DEFAULT_BETA = 0.001;
/** The accuracy term divides by the rate; at zero load the split is planned for this rate instead. */
export const MIN_PLANNED_RPS = 1;
/**
 * The load, as a share of capacity at the SLO, at which an option's latency is read from its
 * curve: the utilisation target tracking aims for; a planned fleet runs below its capacity too.
 */
export const LATENCY_UTILISATION = 0.7;

/** The choices a task's profiles offer; `exits: false` keeps only exits-off settings (InfAdapter-style). */
export function planningOptions(
  profiles: TaskProfiles,
  filter: { exits: boolean; variants?: readonly string[] } = { exits: true },
): PlanningOption[] {
  return profiles.variants
    .filter((v) => !filter.variants || filter.variants.includes(v.name))
    .flatMap((v) =>
      v.settings
        .filter((s) => filter.exits || s.exits === 'off')
        .map((s) => ({
          variant: v.name,
          exits: s.exits,
          capacityRps: s.capacityRps,
          accuracy: s.accuracy,
          loadSeconds: v.loadSeconds,
          latencyMs: meanLatencyAt(s.curve, LATENCY_UTILISATION * s.capacityRps),
        })),
    );
}

function validate(request: PlanRequest): void {
  const { forecastRps, settings } = request;
  if (!(Number.isFinite(forecastRps) && forecastRps >= 0))
    throw new InputError(`forecastRps must be a finite number ≥ 0, got ${forecastRps}`);
  if (!(Number.isInteger(settings.maxWorkers) && settings.maxWorkers >= 1))
    throw new InputError(`maxWorkers must be an integer ≥ 1, got ${settings.maxWorkers}`);
  const minWorkers = settings.minWorkers ?? 1;
  if (!(Number.isInteger(minWorkers) && minWorkers >= 0 && minWorkers <= settings.maxWorkers))
    throw new InputError(`minWorkers must be an integer in [0, maxWorkers], got ${minWorkers}`);
  const factor = settings.capacityFactor ?? 1;
  if (!(factor > 0 && factor <= 1)) throw new InputError(`capacityFactor must be in (0, 1], got ${factor}`);
  const gamma = settings.latencyWeight ?? 0;
  if (!(Number.isFinite(gamma) && gamma >= 0))
    throw new InputError(`latencyWeight must be a finite number ≥ 0, got ${gamma}`);
  if (gamma > 0) {
    if (!(settings.sloMs !== undefined && Number.isFinite(settings.sloMs) && settings.sloMs > 0))
      throw new InputError(
        `a latencyWeight above 0 needs sloMs, a positive number of ms; got ${settings.sloMs}`,
      );
    const missing = request.options.filter((o) => !(o.latencyMs !== undefined && o.latencyMs >= 0));
    if (missing.length > 0)
      throw new InputError(
        `a latencyWeight above 0 needs every option's latencyMs (≥ 0); missing for ${missing.map((o) => `${o.variant} ${exitKey(o.exits)}`).join(', ')}`,
      );
  }
}

export function emptyPlan(request: PlanRequest, degraded: string): FleetPlan {
  return {
    task: request.task,
    forecastRps: request.forecastRps,
    plannedRps: 0,
    capacityRps: 0,
    feasible: request.forecastRps === 0,
    degraded,
    groups: [],
    objective: { accuracy: 0, workers: 0, loadingSeconds: 0, value: 0 },
  };
}

interface Prepared {
  readonly options: readonly PlanningOption[];
  /** Per option: one worker's planned capacity (capacity × factor). */
  readonly capacity: readonly number[];
  /** Per option: what one request served by it is worth, acc − γ · lat / SLO. */
  readonly score: readonly number[];
  readonly variants: readonly string[];
  /** Per option: index into `variants`. */
  readonly variantOf: readonly number[];
  readonly wanted: number;
  readonly planned: number;
  readonly maxServable: number;
  readonly alpha: number;
  readonly beta: number;
  readonly maxLoad: number;
  readonly W: number;
  readonly minWorkers: number;
}

/** Shared by the exhaustive planner and the MILP cross-check: the instance after filtering. */
export function prepareInstance(request: PlanRequest): Prepared | string {
  validate(request);
  const { settings } = request;
  const factor = settings.capacityFactor ?? 1;
  const W = settings.maxWorkers;
  const options = request.options.filter((o) => !request.unavailable?.has(o.variant) && o.capacityRps > 0);
  if (options.length === 0) {
    const names = [...new Set(request.options.map((o) => o.variant))].join(', ') || 'none';
    return `no variant can serve: every variant (${names}) is unavailable or has no capacity at the SLO`;
  }
  const capacity = options.map((o) => o.capacityRps * factor);
  const maxServable = W * Math.max(...capacity);
  const wanted = Math.max(request.forecastRps, MIN_PLANNED_RPS);
  const variants = [...new Set(options.map((o) => o.variant))];
  const gamma = settings.latencyWeight ?? 0;
  return {
    options,
    capacity,
    score: options.map(
      (o) => o.accuracy - (gamma > 0 ? (gamma * (o.latencyMs ?? 0)) / (settings.sloMs as number) : 0),
    ),
    variants,
    variantOf: options.map((o) => variants.indexOf(o.variant)),
    wanted,
    planned: Math.min(wanted, maxServable),
    maxServable,
    alpha: settings.alpha ?? DEFAULT_ALPHA,
    beta: settings.beta ?? DEFAULT_BETA,
    maxLoad: Math.max(1e-9, ...options.map((o) => o.loadSeconds)),
    W,
    minWorkers: settings.minWorkers ?? 1,
  };
}

/**
 * Objective and load split of one assignment of workers to options. For fixed worker counts the
 * best split is the fractional knapsack: fill the best-scoring capacity first (the LP optimum),
 * so the search need not enumerate splits. -Infinity when the assignment cannot carry the rate.
 */
export function evaluateAssignment(
  p: Prepared,
  workers: readonly number[],
  current: ReadonlyMap<string, number> | undefined,
): {
  value: number;
  loads: number[];
  accuracy: number;
  latencyMs: number | undefined;
  loadingSeconds: number;
} {
  const loads = workers.map(() => 0);
  let remaining = p.planned;
  const order = workers
    .map((_, g) => g)
    .filter((g) => (workers[g] as number) > 0)
    .sort((a, b) => (p.score[b] as number) - (p.score[a] as number));
  let accuracy = 0;
  let score = 0;
  let latencyMs: number | undefined = 0;
  for (const g of order) {
    const take = Math.min(remaining, (workers[g] as number) * (p.capacity[g] as number));
    const option = p.options[g] as PlanningOption;
    loads[g] = take;
    accuracy += (option.accuracy * take) / p.planned;
    score += ((p.score[g] as number) * take) / p.planned;
    latencyMs =
      latencyMs === undefined || option.latencyMs === undefined
        ? undefined
        : latencyMs + (option.latencyMs * take) / p.planned;
    remaining -= take;
  }
  if (remaining > 1e-9 * p.planned)
    return { value: -Infinity, loads, accuracy, latencyMs, loadingSeconds: 0 };
  const total = workers.reduce((s, w) => s + w, 0);
  let loadingSeconds = 0;
  p.variants.forEach((name, v) => {
    let now = 0;
    workers.forEach((w, g) => {
      if (p.variantOf[g] === v) now += w;
    });
    const started = Math.max(0, now - (current?.get(name) ?? 0));
    const load = p.options.find((o) => o.variant === name)?.loadSeconds ?? 0;
    loadingSeconds += started * load;
  });
  const value = score - (p.alpha * total) / p.W - (p.beta * loadingSeconds) / p.maxLoad;
  return { value, loads, accuracy, latencyMs, loadingSeconds };
}

/** The plan value for one chosen assignment. */
export function planFromAssignment(request: PlanRequest, p: Prepared, workers: readonly number[]): FleetPlan {
  const { loads, accuracy, latencyMs, loadingSeconds, value } = evaluateAssignment(
    p,
    workers,
    request.current,
  );
  const groups: PlanGroup[] = [];
  let total = 0;
  p.options.forEach((o, g) => {
    const w = workers[g] as number;
    if (w === 0) return;
    total += w;
    const load = loads[g] as number;
    groups.push({
      variant: o.variant,
      exits: o.exits,
      workers: w,
      weight: load / p.planned,
      loadRps: request.forecastRps === 0 ? 0 : load,
      capacityRps: w * (p.capacity[g] as number),
    });
  });
  const feasible = p.wanted <= p.maxServable + 1e-9;
  return {
    task: request.task,
    forecastRps: request.forecastRps,
    plannedRps: request.forecastRps === 0 ? 0 : p.planned,
    capacityRps: groups.reduce((sum, x) => sum + x.capacityRps, 0),
    feasible,
    ...(feasible
      ? {}
      : {
          degraded: `forecast ${request.forecastRps.toFixed(1)} req/s exceeds the ${p.maxServable.toFixed(1)} req/s that ${p.W} workers can serve at the SLO; planned for the ${p.planned.toFixed(1)} req/s they can serve`,
        }),
    groups,
    objective: {
      accuracy,
      workers: total,
      loadingSeconds,
      value,
      ...(latencyMs === undefined || groups.length === 0 ? {} : { latencyMs }),
    },
  };
}

/**
 * Plans one interval by exhaustive search, which is exact and provably small: each variant gets
 * one exit setting and a worker count, the counts sum to at most W, and the load split for given
 * counts is the fractional knapsack above. With V variants and S settings that is at most
 * C(W+V, V)·S^V assignments. Three cuts keep it to milliseconds without losing the optimum: a
 * branch that cannot reach the rate even with every remaining worker is abandoned; a branch whose
 * bound (the best accuracy minus the cost of the fewest workers that could reach the rate) is no
 * better than the best found is abandoned; and a worker count is not raised once the capacity
 * exceeds the rate by a whole worker of any option (one worker of the least accurate group used
 * could then go, same accuracy, lower cost: dominated). Never throws for
 * a forecast it cannot meet; throws InputError for bad settings.
 */
export function planFleet(request: PlanRequest): FleetPlan {
  const p = prepareInstance(request);
  if (typeof p === 'string') return emptyPlan(request, p);
  const G = p.options.length;
  const V = p.variants.length;
  // Groups by descending score, so the knapsack fill is one pass in index order.
  const byScore = p.options.map((_, g) => g).sort((a, b) => (p.score[b] as number) - (p.score[a] as number));
  const score = Float64Array.from(byScore, (g) => p.score[g] as number);
  const cap = Float64Array.from(byScore, (g) => p.capacity[g] as number);
  const variantOf = Int32Array.from(byScore, (g) => p.variantOf[g] as number);
  const perVariant = p.variants.map((_, v) => byScore.map((_, k) => k).filter((k) => variantOf[k] === v));
  const loadOf = Float64Array.from(
    p.variants,
    (name) => p.options.find((o) => o.variant === name)?.loadSeconds ?? 0,
  );
  const currentOf = Float64Array.from(p.variants, (name) => request.current?.get(name) ?? 0);
  const maxCap = Math.max(...cap);
  const maxScore = Math.max(...score);
  const restMax = p.variants.map((_, v) =>
    Math.max(
      0,
      ...perVariant
        .slice(v)
        .flat()
        .map((k) => cap[k] as number),
    ),
  );
  const planned = p.planned;
  const need = planned * (1 - 1e-9);
  const costPerWorker = p.alpha / p.W;
  const loadWeight = p.beta / p.maxLoad;
  const workers = new Int32Array(G);
  const perVariantWorkers = new Int32Array(V);
  let bestValue = -Infinity;
  let best = new Int32Array(G);

  const evaluate = (used: number): void => {
    let remaining = planned;
    let scored = 0;
    for (let k = 0; k < G && remaining > 0; k++) {
      const w = workers[k] as number;
      if (w === 0) continue;
      const take = Math.min(remaining, w * (cap[k] as number));
      scored += (score[k] as number) * take;
      remaining -= take;
    }
    let loading = 0;
    for (let v = 0; v < V; v++)
      loading +=
        Math.max(0, (perVariantWorkers[v] as number) - (currentOf[v] as number)) * (loadOf[v] as number);
    const value = scored / planned - costPerWorker * used - loadWeight * loading;
    if (value > bestValue) {
      bestValue = value;
      best = workers.slice();
    }
  };
  const visit = (v: number, used: number, capacity: number): void => {
    if (v === V) {
      if (used >= p.minWorkers && capacity >= need) evaluate(used);
      return;
    }
    const rest = restMax[v] as number;
    if (capacity + (p.W - used) * rest < need) return;
    // Bound: no assignment below this node beats the best score minus the fewest workers' cost.
    const fewest = used + Math.max(0, Math.ceil((need - capacity) / rest - 1e-9));
    if (maxScore - costPerWorker * fewest <= bestValue) return;
    visit(v + 1, used, capacity);
    for (const k of perVariant[v] as number[]) {
      const c = cap[k] as number;
      for (let w = 1; used + w <= p.W; w++) {
        const total = capacity + w * c;
        workers[k] = w;
        perVariantWorkers[v] = w;
        visit(v + 1, used + w, total);
        if (total - maxCap >= need && used + w > p.minWorkers) break;
      }
      workers[k] = 0;
      perVariantWorkers[v] = 0;
    }
  };
  // Incumbents before the search: each option alone, with just enough workers. A good first value
  // lets the objective bound cut most branches at once.
  for (let k = 0; k < G; k++) {
    const w = Math.max(p.minWorkers, Math.ceil(need / (cap[k] as number) - 1e-9));
    if (w > p.W) continue;
    const v = variantOf[k] as number;
    workers[k] = w;
    perVariantWorkers[v] = w;
    evaluate(w);
    workers[k] = 0;
    perVariantWorkers[v] = 0;
  }
  visit(0, 0, 0);
  if (!Number.isFinite(bestValue))
    return emptyPlan(request, 'no assignment of workers carries the planned rate');
  const chosen = p.options.map(() => 0);
  byScore.forEach((g, k) => {
    chosen[g] = best[k] as number;
  });
  return planFromAssignment(request, p, chosen);
}

/** A group's label for tables and plots: variant and exit setting. */
export function groupLabel(group: { variant: string; exits: ExitSetting }): string {
  return `${group.variant} ${exitKey(group.exits)}`;
}
