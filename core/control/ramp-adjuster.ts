/**
 * Latency-focused ramp adjustment, run on a longer period than threshold tuning: which candidate
 * positions carry active ramps. Ramps that have not paid for themselves are switched off (after a
 * retune gets the chance to rescue them); when every ramp pays and the budget has room, a ramp is
 * tried closer to the model start, where easy inputs would leave earliest; when ramps are useless
 * because inputs got harder, a ramp is tried deeper.
 *
 * Rules this module guarantees, whatever the utilities say:
 * - the active ramps' own costs never exceed `rampBudget × plainMs` (reference batch size);
 * - no ramp sits beyond the latest useful candidate;
 * - a new ramp starts at threshold 0 and the decision asks for a retune;
 * - oscillation is damped: an addition is refused if it would return to a ramp set that was left
 *   within the last `dampingRuns` runs, or re-add a candidate switched off as useless within them.
 *   Removals of useless ramps are never refused, since they only save time;
 * - no ramp is added, nor a useless one moved deeper, while the serving lanes are busy
 *   `GROWTH_BUSY_LIMIT` of the time or more, where the caller says how busy they are.
 *
 * Decision on the reference behaviour's quirk of dropping the highest-utility ramp when the
 * budget is full: when no room is left for a shallower ramp, the active ramp with the LOWEST mean
 * utility is swapped out for it (if that frees enough room), because the ramp that pays least is
 * the one worth risking on a position not yet tried. Gap filling is not attempted when full.
 */
import { InputError } from '../errors';

/** A candidate position as the adjuster sees it: its id and its ramp's cost at the reference batch size. */
export interface AdjusterCandidate {
  readonly id: string;
  readonly rampMs: number;
  /**
   * Time from the model start to this position at the reference batch size, ms. With the input's
   * `exitRates` it lets the adjuster pass over a gap whose ramp could not pay (step 4).
   */
  readonly backboneMs?: number;
}

/** What a retune of the current ramps achieved: new thresholds and each ramp's utility under them. */
export interface RetuneOutcome {
  readonly thresholds: readonly number[];
  readonly utilities: readonly number[];
}

/** Everything one adjustment looks at. Indices are into `candidates`, ascending. */
export interface AdjustInput {
  readonly candidates: readonly AdjusterCandidate[];
  /** Plain model's time at the reference batch size, in ms. */
  readonly plainMs: number;
  /** Share of `plainMs` the active ramps' own costs may add together. */
  readonly rampBudget: number;
  /** Deepest candidate a ramp may sit at; -1 when none is useful. */
  readonly latestUsefulIndex: number;
  readonly active: readonly number[];
  readonly thresholds: readonly number[];
  /** utilityHistory[k]: recent utilities (ms per input) of active ramp k, oldest first. */
  readonly utilityHistory: readonly (readonly number[])[];
  /**
   * Share of recent inputs leaving at each active ramp under `thresholds`, then at the end (one
   * more entry than `active`). Without it (or without candidates' `backboneMs`) every gap may be
   * tried, as before.
   */
  readonly exitRates?: readonly number[];
  /** Retunes the current ramps on recent inputs; without it, useless ramps are removed directly. */
  readonly retune?: (thresholds: readonly number[]) => RetuneOutcome;
  /**
   * Share of the recent wall time the serving lanes spent running batches (lane-occupancy.ts),
   * where the caller measures it. At `GROWTH_BUSY_LIMIT` or above no ramp is added (steps 3 and 4)
   * and a useless one is not replaced by one deeper (step 2).
   */
  readonly lanesBusyShare?: number;
}

/** Tunables of the adjuster. */
export interface AdjusterOptions {
  /** Entries a ramp's history needs before it is judged (default 3). */
  readonly minHistory?: number;
  /** How many runs a left ramp set, or a candidate removed as useless, stays barred (default 4). */
  readonly dampingRuns?: number;
}

/** Why the ramp set is (or is not) changing; fixed values so logs can be grouped. */
export type AdjustReason =
  | 'repaired'
  | 'retune-made-useful'
  | 'removed-useless'
  | 'moved-deeper'
  | 'kept-deepest-to-observe'
  | 'waiting-for-evidence'
  | 'added-shallower'
  | 'swapped-lowest-for-shallower'
  | 'filled-gap'
  | 'lanes-busy'
  | 'unchanged';

/** The adjuster's answer. */
export interface AdjustDecision {
  readonly active: number[];
  readonly thresholds: number[];
  readonly rampsChanged: boolean;
  readonly thresholdsChanged: boolean;
  /** True whenever the ramp set changed: new ramps sit at 0 until the next tune. */
  readonly retuneRequested: boolean;
  readonly added: number[];
  readonly removed: number[];
  readonly reason: AdjustReason;
  /** One line for people, naming the candidates involved. */
  readonly detail: string;
}

/** What the adjuster remembers between runs, for damping. */
export interface AdjusterMemory {
  readonly run: number;
  readonly leftSets: readonly { readonly key: string; readonly run: number }[];
  readonly removedUseless: readonly { readonly candidate: number; readonly run: number }[];
}

/** Memory before the first run. */
export const EMPTY_ADJUSTER_MEMORY: AdjusterMemory = { run: 0, leftSets: [], removedUseless: [] };

/**
 * Lane occupancy from which the adjuster adds no ramp. A ramp is charged its own time per batch,
 * but on lanes busy a share ρ of the time every millisecond a batch takes also delays the batches
 * queued behind it, about ρ/(1 − ρ) milliseconds more (four at 0.8, nine at 0.9), and each change
 * of the ramp set makes the worker build and warm new sessions, which holds a lane for the time of
 * many batches. A ramp tried at such occupancy costs every input more than its utility counts,
 * which is what the utility is meant to catch afterwards. Measured end to end (docs/evaluation.md,
 * "Where a request's time goes"): mnist-resnet on lanes busy about 0.9 of the time grew its four
 * placed ramps to seven in every repeat, its requests waited 4.6–8.2 ms for a batch against
 * 3.0–5.8 ms for the plain model's, and the median win was 27.8% [3.4% – 38.2%]; with the placed
 * four kept, 28.1% [26.9% – 35.3%]. On such lanes a useless ramp is switched off without trying
 * one deeper in its place: spam-bert, whose two shallow ramps release nearly every input, moved
 * its third from c2 to c3 to c4 before dropping it, three rebuilds where one would do, and lost
 * 46.5% in that repeat (37.0% [−46.5% – 41.7%] over five); under this rule it switched c2 off
 * and won 46.6% [34.3% – 52.2%]. Switching off alone stays allowed: it only saves time.
 */
export const GROWTH_BUSY_LIMIT = 0.8;

/** Refuses a lanes' busy share outside [0, 1]; an absent one is fine (the caller cannot see the lanes). */
export function checkBusyShare(share: number | undefined): void {
  if (share !== undefined && !(share >= 0 && share <= 1))
    throw new InputError(`lanesBusyShare must be a share from 0 to 1, got ${share}`);
}

const DEFAULT_MIN_HISTORY = 3;
const DEFAULT_DAMPING_RUNS = 4;
const BUDGET_TOLERANCE = 1e-9;

function mean(values: readonly number[]): number {
  let sum = 0;
  for (const value of values) sum += value;
  return values.length === 0 ? Number.NaN : sum / values.length;
}

function setKey(set: readonly number[]): string {
  return set.join(',');
}

function sameSet(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

function checkInput(input: AdjustInput): void {
  const { candidates, active, thresholds, utilityHistory } = input;
  if (!(input.plainMs > 0)) throw new InputError(`plainMs must be positive, got ${input.plainMs}`);
  if (!(input.rampBudget >= 0))
    throw new InputError(`rampBudget must be non-negative, got ${input.rampBudget}`);
  checkBusyShare(input.lanesBusyShare);
  if (!(
    Number.isInteger(input.latestUsefulIndex) &&
    input.latestUsefulIndex >= -1 &&
    input.latestUsefulIndex < candidates.length
  )) {
    throw new InputError(`latestUsefulIndex ${input.latestUsefulIndex} is not -1 or a candidate index`);
  }
  active.forEach((index, k) => {
    if (!(Number.isInteger(index) && index >= 0 && index < candidates.length)) {
      throw new InputError(`active ramp ${index} is not a candidate index`);
    }
    if (k > 0 && index <= (active[k - 1] as number))
      throw new InputError('active ramps must be ascending and distinct');
  });
  if (thresholds.length !== active.length || utilityHistory.length !== active.length) {
    throw new InputError(
      `${active.length} active ramps but ${thresholds.length} thresholds and ${utilityHistory.length} utility histories`,
    );
  }
  const { exitRates } = input;
  if (exitRates !== undefined) {
    if (exitRates.length !== active.length + 1 || exitRates.some((rate) => !(rate >= 0 && rate <= 1))) {
      throw new InputError(
        `exitRates must hold a share from 0 to 1 for each of the ${active.length} active ramps and the end, got [${exitRates.join(', ')}]`,
      );
    }
  }
}

/**
 * The most a ramp at candidate `c` could save per input, ms, with `active` ramps exiting at
 * `exitRates`: every input that reaches it (none of the shallower ramps released it) released
 * there, each saving the time to the exit it would otherwise have taken. Null where the figures
 * are missing. A ramp whose best case is below its own cost cannot pay: its cut slows every batch
 * (the whole batch runs to the end), so its cost falls on every input, not only on those passing it.
 */
function bestSavingMs(input: AdjustInput, c: number): number | null {
  const { candidates, active, exitRates } = input;
  const here = candidates[c]?.backboneMs;
  if (exitRates === undefined || here === undefined) return null;
  let saving = (exitRates[active.length] as number) * (input.plainMs - here);
  for (const [k, a] of active.entries()) {
    if (a <= c) continue;
    const there = candidates[a]?.backboneMs;
    if (there === undefined) return null;
    saving += (exitRates[k] as number) * Math.max(0, there - here);
  }
  return saving;
}

/**
 * Decides the next ramp set from utilities, budget and the damping memory. Pure: the same input
 * and memory give the same decision, so the simulator can replay the controller exactly.
 */
export function planAdjustment(
  input: AdjustInput,
  memory: AdjusterMemory = EMPTY_ADJUSTER_MEMORY,
  options: AdjusterOptions = {},
): { decision: AdjustDecision; memory: AdjusterMemory } {
  checkInput(input);
  const minHistory = options.minHistory ?? DEFAULT_MIN_HISTORY;
  const dampingRuns = options.dampingRuns ?? DEFAULT_DAMPING_RUNS;
  const { candidates, active, latestUsefulIndex, utilityHistory } = input;
  const run = memory.run + 1;
  const leftSets = memory.leftSets.filter((entry) => run - entry.run <= dampingRuns);
  const removedUseless = memory.removedUseless.filter((entry) => run - entry.run <= dampingRuns);
  const budgetMs = input.rampBudget * input.plainMs;
  const costOf = (set: readonly number[]) =>
    set.reduce((sum, c) => sum + (candidates[c] as AdjusterCandidate).rampMs, 0);
  const fits = (set: readonly number[]) => costOf(set) <= budgetMs + BUDGET_TOLERANCE * Math.max(1, budgetMs);
  const additionAllowed = (set: readonly number[], added: number) =>
    !leftSets.some((entry) => entry.key === setKey(set)) &&
    !removedUseless.some((entry) => entry.candidate === added);
  const nameOf = (c: number) => (candidates[c] as AdjusterCandidate).id;
  const names = (set: readonly number[]) => (set.length === 0 ? 'none' : set.map(nameOf).join(', '));
  const utilityOf = new Map<number, number>(
    active.map((c, k) => [c, mean(utilityHistory[k] as readonly number[])]),
  );

  const finish = (
    next: readonly number[],
    thresholdOf: ReadonlyMap<number, number>,
    reason: AdjustReason,
    detail: string,
    uselessRemoved: readonly number[] = [],
  ) => {
    const sorted = [...next].sort((a, b) => a - b);
    const rampsChanged = !sameSet(sorted, active);
    const thresholds = sorted.map((c) => thresholdOf.get(c) ?? 0);
    const thresholdsChanged = rampsChanged || thresholds.some((t, k) => t !== input.thresholds[k]);
    const decision: AdjustDecision = {
      active: sorted,
      thresholds,
      rampsChanged,
      thresholdsChanged,
      retuneRequested: rampsChanged,
      added: sorted.filter((c) => !active.includes(c)),
      removed: active.filter((c) => !sorted.includes(c)),
      reason,
      detail,
    };
    const nextMemory: AdjusterMemory = {
      run,
      leftSets: rampsChanged ? [...leftSets, { key: setKey(active), run }] : leftSets,
      removedUseless: [
        ...removedUseless,
        ...uselessRemoved.filter((c) => !sorted.includes(c)).map((candidate) => ({ candidate, run })),
      ],
    };
    return { decision, memory: nextMemory };
  };
  const current = new Map<number, number>(active.map((c, k) => [c, input.thresholds[k] as number]));
  const lanesBusy = input.lanesBusyShare !== undefined && input.lanesBusyShare >= GROWTH_BUSY_LIMIT;

  // 1. Repair: a set beyond the latest useful candidate or over budget is fixed before anything else.
  const inRange = active.filter((c) => c <= latestUsefulIndex);
  const repaired = [...inRange];
  // Unproven ramps (no history) go first, then the lowest mean utility; ties drop the deeper one.
  const proven = (c: number) => {
    const u = utilityOf.get(c) ?? Number.NaN;
    return Number.isNaN(u) ? -Infinity : u;
  };
  while (!fits(repaired)) {
    let drop = 0;
    repaired.forEach((c, k) => {
      if (proven(c) <= proven(repaired[drop] as number)) drop = k;
    });
    repaired.splice(drop, 1);
  }
  if (!sameSet(repaired, active)) {
    return finish(repaired, current, 'repaired', `kept ${names(repaired)} within budget and range`);
  }

  // 2. Useless ramps: try a retune first, then switch off what is still useless and look deeper.
  let negative = active
    .map((c, k) => ({ c, k }))
    .filter(({ k }) => {
      const history = utilityHistory[k] as readonly number[];
      return history.length >= minHistory && history.every((u) => u <= 0);
    });
  if (negative.length > 0) {
    let thresholdOf = current;
    if (input.retune) {
      const outcome = input.retune(input.thresholds);
      if (outcome.thresholds.length !== active.length || outcome.utilities.length !== active.length) {
        throw new InputError('a retune must return one threshold and one utility per active ramp');
      }
      thresholdOf = new Map(active.map((c, k) => [c, outcome.thresholds[k] as number]));
      negative = negative.filter(({ k }) => (outcome.utilities[k] as number) <= 0);
      if (negative.length === 0) {
        return finish(
          active,
          thresholdOf,
          'retune-made-useful',
          `retuned ${names(active)}; every ramp now pays`,
        );
      }
    }
    const removed = negative.map(({ c }) => c);
    const remaining = active.filter((c) => !removed.includes(c));
    const left = (active[active.length - 1] as number) + 1;
    if (left <= latestUsefulIndex && !lanesBusy) {
      const deeper = Math.floor((left + latestUsefulIndex) / 2);
      const moved = [...remaining, deeper];
      if (
        fits(moved) &&
        additionAllowed(
          [...moved].sort((a, b) => a - b),
          deeper,
        )
      ) {
        return finish(
          moved,
          thresholdOf,
          'moved-deeper',
          `switched off ${names(removed)}; trying ${nameOf(deeper)}`,
          removed,
        );
      }
    }
    if (remaining.length === 0) {
      const deepest = removed[removed.length - 1] as number;
      const kept = removed.slice(0, -1);
      return finish(
        [deepest],
        thresholdOf,
        'kept-deepest-to-observe',
        `switched off ${names(kept)}; kept ${nameOf(deepest)} so inputs stay observed`,
        kept,
      );
    }
    return finish(remaining, thresholdOf, 'removed-useless', `switched off ${names(removed)}`, removed);
  }

  // 3. Growth needs every ramp to have shown it pays.
  const allUseful = active.every(
    (c, k) =>
      (utilityHistory[k] as readonly number[]).length >= minHistory && (utilityOf.get(c) as number) > 0,
  );
  if (!allUseful)
    return finish(active, current, 'waiting-for-evidence', `not every ramp of ${names(active)} has paid yet`);
  if (lanesBusy) {
    return finish(
      active,
      current,
      'lanes-busy',
      `keeping ${names(active)}: the lanes are busy ${(100 * (input.lanesBusyShare ?? 0)).toFixed(0)}% of the time`,
    );
  }

  const first = active[0] ?? latestUsefulIndex + 1;
  if (first > 0) {
    const shallow = Math.floor((first - 1) / 2);
    const grown = [shallow, ...active];
    if (fits(grown)) {
      if (additionAllowed(grown, shallow))
        return finish(grown, current, 'added-shallower', `trying ${nameOf(shallow)}`);
    } else {
      if (active.length === 0) return finish(active, current, 'unchanged', 'no candidate fits the budget');
      let lowest = 0;
      active.forEach((c, k) => {
        if ((utilityOf.get(c) as number) <= (utilityOf.get(active[lowest] as number) as number)) lowest = k;
      });
      const swapped = [shallow, ...active.filter((_, k) => k !== lowest)];
      if (fits(swapped) && additionAllowed(swapped, shallow)) {
        return finish(
          swapped,
          current,
          'swapped-lowest-for-shallower',
          `budget full: replaced ${nameOf(active[lowest] as number)} (lowest utility) by ${nameOf(shallow)}`,
        );
      }
      return finish(active, current, 'unchanged', 'budget full and no swap allowed');
    }
  }

  // 4. Room left but nothing shallower to try: fill the widest gap up to the latest useful
  // candidate, unless even releasing there every input that reaches it would not pay for the ramp
  // (behind a ramp that releases nearly everything, a new one only costs, and each change of the
  // ramp set makes the worker build and warm new sessions).
  const gaps: { lo: number; hi: number }[] = [];
  const bounds = [...active, latestUsefulIndex + 1];
  let lo = (active[0] ?? latestUsefulIndex + 1) + 1;
  for (const bound of bounds.slice(1)) {
    if (bound - 1 >= lo) gaps.push({ lo, hi: bound - 1 });
    lo = bound + 1;
  }
  gaps.sort((a, b) => b.hi - b.lo - (a.hi - a.lo) || a.lo - b.lo);
  for (const gap of gaps) {
    const middle = Math.floor((gap.lo + gap.hi) / 2);
    const grown = [...active, middle].sort((a, b) => a - b);
    const best = bestSavingMs(input, middle);
    if (best !== null && best <= (candidates[middle] as AdjusterCandidate).rampMs) continue;
    if (fits(grown) && additionAllowed(grown, middle)) {
      return finish(grown, current, 'filled-gap', `trying ${nameOf(middle)}`);
    }
  }
  return finish(active, current, 'unchanged', `keeping ${names(active)}`);
}

/**
 * The adjuster with its damping memory held between runs, for callers that adjust one stream;
 * `planAdjustment` is the same logic with the memory passed explicitly.
 */
export class RampAdjuster {
  private memoryState: AdjusterMemory = EMPTY_ADJUSTER_MEMORY;

  constructor(private readonly options: AdjusterOptions = {}) {}

  /** Runs one adjustment and remembers what it needs for damping. */
  adjust(input: AdjustInput): AdjustDecision {
    const { decision, memory } = planAdjustment(input, this.memoryState, this.options);
    this.memoryState = memory;
    return decision;
  }

  /** The damping memory, for inspection and for handing over to a replay. */
  get memory(): AdjusterMemory {
    return this.memoryState;
  }
}
