/**
 * The first ramp configuration of a freshly prepared model: ramps go no deeper than the latest
 * candidate whose exit is still faster than the plain model, within the ramp budget, all with
 * threshold 0 so that nothing exits until the threshold tuner has seen live traffic. Where each
 * position's held-out exit share is known (the preparation measures it), the ramps go where they
 * are expected to save the most latency net of their cost, for the median input and on average
 * (`mostMiddleSaving`, seeded with `mostSaving`'s choice on the average alone; judged jointly,
 * `mostJointSaving`, where every position's cross-fitted observations are known), a departure from
 * the design guide's rule (section 6) that docs/evaluation.md explains; otherwise, as the guide has
 * it, as many as the budget allows are spread evenly (each nudged to a clearly cheaper neighbour,
 * or, where that still overruns the budget, moved to the nearest positions that fit it).
 */
import { mostJointSaving, type RampObservations } from './joint-saving';
import { mostMiddleSaving } from './middle-saving';

export interface PositionCost {
  readonly id: string;
  /** Time from the start of the model to this position, in ms, at the reference batch size. */
  readonly backboneMs: number;
  /** The position's ramp's own time, in ms, at the reference batch size. */
  readonly rampMs: number;
  /**
   * Share of the inputs reaching this ramp that it would release at the accuracy constraint, as
   * judged on inputs held out from its training (exit-shares.ts); absent where unknown.
   */
  readonly exitShare?: number;
  /** How many held-out inputs `exitShare` was measured on; absent where unknown. */
  readonly heldOutInputs?: number;
  /**
   * The position's ramp on every bootstrap input, each judged by a ramp not trained on it
   * (cross-fitted.ts); where every useful position has them, sets are judged jointly.
   */
  readonly observations?: RampObservations;
}

/** A candidate's held-out share and the count behind it, as a bundle's manifest records them. */
export function heldOutOf(ramp: {
  readonly heldOutExitShare?: number | undefined;
  readonly heldOutInputs?: number | undefined;
}): Pick<PositionCost, 'exitShare' | 'heldOutInputs'> {
  return {
    ...(ramp.heldOutExitShare !== undefined ? { exitShare: ramp.heldOutExitShare } : {}),
    ...(ramp.heldOutInputs !== undefined ? { heldOutInputs: ramp.heldOutInputs } : {}),
  };
}

export interface InitialPlacement {
  /** Index (into the candidates) of the latest useful position, or null when none is useful. */
  readonly latestUseful: number | null;
  /** Chosen candidate indices, shallow to deep. */
  readonly chosen: readonly number[];
  /** Extra latency of a non-exiting input as a fraction of the plain model's, for the chosen ramps. */
  readonly overheadFraction: number;
  /**
   * Share of the bootstrap inputs the chosen set releases, tuned together to
   * `PLACEMENT_AGREEMENT` on cross-fitted observations; absent where sets were not judged jointly.
   */
  readonly expectedRelease?: number;
}

/**
 * Evenly spread `count` indices over [0, latest], starting at the first candidate and stepping by
 * `latest / count`, so the deepest ramp stays clear of the latest position. The first candidate is
 * included on purpose: the shallowest ramps are where early exits save the most, and the ramp
 * adjuster drops a ramp that turns out useless, whereas with a full budget it can rarely move one
 * toward the start. (On mnist-resnet, ramps at c2/c4/c5 saved 38% of the mean latency on held-out
 * inputs and ramps at c0/c3/c6, same budget, 65%.)
 */
export function spreadEvenly(count: number, latest: number): number[] {
  const chosen: number[] = [];
  for (let j = 0; j < count; j++) {
    const index = Math.round((j * latest) / count);
    if (!chosen.includes(index)) chosen.push(index);
  }
  return chosen;
}

/** A neighbour must be this much cheaper than the evenly spread position to take its place. */
const CHEAPER_BY = 0.05;

/**
 * The evenly spread positions, each moved to the cheapest candidate of its own stretch when that
 * one is clearly cheaper. A stretch reaches halfway to the neighbouring positions; the deepest
 * one's reaches as far past it as halfway back to the one before (never past `latest`), and a
 * lone position has none: a nudge trades a little depth for cost, never a ramp's whole depth (a
 * single ramp once slid from the first candidate of mnist-resnet to the last, where it saves
 * almost nothing, because the last cut was the cheapest). What a ramp costs is mostly its cut,
 * and cuts differ: the one between two stages can cost a fraction of the one inside a stage, and
 * a neighbour exits almost as early. Stretches never overlap, so the chosen positions stay
 * distinct and in order.
 */
export function cheapestNear(
  targets: readonly number[],
  latest: number,
  costOf: (index: number) => number,
): number[] {
  return targets.map((target, j) => {
    const previous = targets[j - 1];
    const next = targets[j + 1];
    const lo = previous === undefined ? target : Math.floor((previous + target) / 2) + 1;
    const hi =
      next !== undefined
        ? Math.floor((target + next) / 2)
        : previous === undefined
          ? target
          : Math.min(latest, target + Math.floor((target - previous) / 2));
    let best = target;
    for (let index = lo; index <= hi; index++) {
      if (costOf(index) < costOf(best) * (1 - CHEAPER_BY)) best = index;
    }
    return best;
  });
}

/**
 * The `targets.length` positions in [0, latest], in order, nearest the targets (least total
 * distance, then least cost) whose costs sum to at most `budget`; null when no such set fits.
 * This is where the evenly spread ramps go when even their cheapest neighbours overrun the
 * budget, because the cuts of one stretch (often the shallow one, where activations are largest)
 * all cost too much: the ramps then gather where cuts are cheap rather than fewer of them being
 * placed. Exact: for each (ramps placed, last position) it keeps the cheapest placement at each
 * total distance, which is small for any real model's candidates.
 */
export function nearestFitting(
  targets: readonly number[],
  latest: number,
  costOf: (index: number) => number,
  budget: number,
): number[] | null {
  interface Placed {
    readonly cost: number;
    readonly indices: readonly number[];
  }
  // layer[i]: distance -> cheapest placement of the ramps so far whose last ramp is at i.
  let layer: Map<number, Placed>[] = [new Map([[0, { cost: 0, indices: [] }]])];
  for (const [j, target] of targets.entries()) {
    const next = Array.from({ length: latest + 1 }, () => new Map<number, Placed>());
    layer.forEach((byDistance, slot) => {
      // slot 0 of the first layer stands for "nothing placed yet"; afterwards slot i is index i.
      const from = j === 0 ? 0 : slot + 1;
      for (const [distance, partial] of byDistance) {
        for (let index = from; index <= latest; index++) {
          const cost = partial.cost + costOf(index);
          if (cost > budget) continue;
          const d = distance + Math.abs(index - target);
          const held = (next[index] as Map<number, Placed>).get(d);
          if (!held || cost < held.cost)
            (next[index] as Map<number, Placed>).set(d, { cost, indices: [...partial.indices, index] });
        }
      }
    });
    layer = next;
  }
  let best: { distance: number; partial: Placed } | null = null;
  for (const byDistance of layer) {
    for (const [distance, partial] of byDistance) {
      if (
        !best ||
        distance < best.distance ||
        (distance === best.distance && partial.cost < best.partial.cost)
      )
        best = { distance, partial };
    }
  }
  return best && best.partial.indices.length === targets.length ? [...best.partial.indices] : null;
}

/** Budget steps of the placement search: a ramp's cost is rounded up to a thousandth of the budget. */
const BUDGET_STEPS = 1000;

/**
 * The ramps among positions [0, latest] expected to save the most latency net of what they cost,
 * within `budgetMs`, shallow to deep; empty when no set is expected to save more than it costs. An
 * input leaves at the first ramp that releases it, so a set's expected saving, as a share of the
 * plain model's time, is Σ (1 − depth_r) · share_r · Π_{q before r} (1 − share_q) (each ramp's
 * share taken as independent of those before it), and its cost Σ rampMs_r / plainMs, which every
 * input pays. That is what the evaluation showed to matter (docs/evaluation.md): a lone shallow
 * ramp that releases most inputs wins, and a second ramp behind one that releases nearly
 * everything only costs. Searched over the budget rounded to `BUDGET_STEPS` (costs rounded up, so
 * a chosen set always fits): for each position and remaining budget, the set starting there is
 * that ramp followed by nothing or by the best set starting deeper in what is left, the deeper
 * sets being ranked by their own saving net of cost (exact when a ramp's share is 0 or 1, a close
 * approximation between).
 */
export function mostSaving(
  positions: readonly PositionCost[],
  plainMs: number,
  latest: number,
  budgetMs: number,
): number[] {
  const unit = budgetMs / BUDGET_STEPS;
  const count = latest + 1;
  const at = positions.slice(0, count);
  const steps = at.map((p) => (unit > 0 ? Math.ceil(p.rampMs / unit) : Infinity));
  const share = at.map((p) => Math.min(1, Math.max(0, p.exitShare ?? 0)));
  const gain = at.map((p, i) => Math.max(0, 1 - p.backboneMs / plainMs) * (share[i] as number));
  const costOf = at.map((p) => p.rampMs / plainMs);
  // saving[i][b], cost[i][b], next[i][b]: the set whose shallowest ramp is i, within b steps
  // (NaN where i alone does not fit).
  const saving = Array.from({ length: count }, () => new Float64Array(BUDGET_STEPS + 1).fill(Number.NaN));
  const cost = Array.from({ length: count }, () => new Float64Array(BUDGET_STEPS + 1));
  const next = Array.from({ length: count }, () => new Int32Array(BUDGET_STEPS + 1).fill(-1));
  const net = (i: number, b: number) =>
    ((saving[i] as Float64Array)[b] as number) - ((cost[i] as Float64Array)[b] as number);
  for (let i = count - 1; i >= 0; i--) {
    const own = steps[i] as number;
    const reach = 1 - (share[i] as number);
    for (let b = own; b <= BUDGET_STEPS; b++) {
      const left = b - own;
      let best = 0;
      let bestNext = -1;
      for (let j = i + 1; j < count; j++) {
        const s = (saving[j] as Float64Array)[left] as number;
        if (Number.isNaN(s)) continue;
        const value = reach * s - ((cost[j] as Float64Array)[left] as number);
        if (value > best + 1e-12) {
          best = value;
          bestNext = j;
        }
      }
      (saving[i] as Float64Array)[b] =
        (gain[i] as number) +
        (bestNext < 0 ? 0 : reach * ((saving[bestNext] as Float64Array)[left] as number));
      (cost[i] as Float64Array)[b] =
        (costOf[i] as number) + (bestNext < 0 ? 0 : ((cost[bestNext] as Float64Array)[left] as number));
      (next[i] as Int32Array)[b] = bestNext;
    }
  }
  let first = -1;
  for (let i = 0; i < count; i++) {
    if (Number.isNaN((saving[i] as Float64Array)[BUDGET_STEPS])) continue;
    if (net(i, BUDGET_STEPS) > (first < 0 ? 0 : net(first, BUDGET_STEPS)) + 1e-12) first = i;
  }
  const chosen: number[] = [];
  let b = BUDGET_STEPS;
  for (let i = first; i >= 0;) {
    chosen.push(i);
    const after = (next[i] as Int32Array)[b] as number;
    b -= steps[i] as number;
    i = after;
  }
  return chosen;
}

/** Chooses the initial ramps for a model whose plain latency is `plainMs` at the reference batch size. */
export function chooseInitialRamps(
  positions: readonly PositionCost[],
  plainMs: number,
  rampBudget: number,
): InitialPlacement {
  let latest = -1;
  positions.forEach((position, index) => {
    if (position.backboneMs + position.rampMs < plainMs) latest = index;
  });
  if (latest < 0) return { latestUseful: null, chosen: [], overheadFraction: 0 };
  const latestUseful = latest;
  const overheadOf = (indices: readonly number[]) =>
    indices.reduce((sum, index) => sum + (positions[index]?.rampMs ?? 0), 0) / plainMs;
  if (positions.slice(0, latestUseful + 1).every((p) => p.exitShare !== undefined)) {
    const budgetMs = rampBudget * plainMs;
    const seed = mostSaving(positions, plainMs, latestUseful, budgetMs);
    if (positions.slice(0, latestUseful + 1).every((p) => p.observations !== undefined)) {
      const joint = mostJointSaving(positions, plainMs, latestUseful, budgetMs, seed);
      if (joint)
        return {
          latestUseful,
          chosen: joint.indices,
          overheadFraction: overheadOf(joint.indices),
          expectedRelease: joint.saving.released,
        };
    }
    const saving = mostMiddleSaving(positions, plainMs, latestUseful, budgetMs, seed);
    // No set expected to save more than it costs on the bootstrap (a small sample, so a coarse
    // verdict): the ramps are spread as without shares and live traffic decides.
    if (saving.length > 0) return { latestUseful, chosen: saving, overheadFraction: overheadOf(saving) };
  }
  const costOf = (index: number) => positions[index]?.rampMs ?? Infinity;
  // The k cheapest positions bound what any k ramps cost: once even they overrun the budget, no
  // larger count can fit either.
  const cheapest = positions
    .slice(0, latestUseful + 1)
    .map((p) => p.rampMs)
    .sort((a, b) => a - b);
  let best: number[] = [];
  let floorMs = 0;
  for (let count = 1; count <= latestUseful + 1; count++) {
    floorMs += cheapest[count - 1] ?? Infinity;
    if (floorMs / plainMs > rampBudget) break;
    const even = spreadEvenly(count, latestUseful);
    if (even.length < count) continue;
    const nudged = cheapestNear(even, latestUseful, costOf);
    const indices =
      overheadOf(nudged) <= rampBudget
        ? nudged
        : nearestFitting(even, latestUseful, costOf, rampBudget * plainMs);
    if (indices && overheadOf(indices) <= rampBudget) best = indices;
  }
  return { latestUseful, chosen: best, overheadFraction: overheadOf(best) };
}
