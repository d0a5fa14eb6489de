/**
 * What a set of ramps is expected to save, judged the way the latency targets are stated: for the
 * median input, not only on average.
 *
 * The mean alone ranks a deep ramp that releases nearly every input about level with a shallow one
 * that releases most of them (on mnist-resnet, c2 at 35% of the way releasing 93% of held-out
 * inputs against c0 at 12% releasing 65%: 0.60 against 0.57 of the model), yet the median input
 * leaves the shallow one with 88% of the model saved and the deep one with 65%; every evaluation
 * run that met its median target had its ramp in the first third of the model (docs/evaluation.md).
 * The median alone is brittle: it jumps when a share crosses a half, and it ignores what a second
 * ramp saves for the inputs the first leaves. So a set is scored by the mean of two figures, both
 * net of what every input pays for the ramps: the saving that at least `MEDIAN_COVER` of the
 * inputs get, and the expected saving.
 *
 * The expected saving takes each share at the lower end of its interval on the held-out inputs
 * (`wilsonLowerBound`, where their count is known). A ramp that released all of a hundred
 * held-out inputs may well leave a few in a hundred live ones, more once the tuner raises its
 * threshold; taken at face value its share of 1 prices every ramp behind it at nothing, and
 * preparation placed a single ramp on spam-bert, with the budget unspent and nothing to catch
 * what it leaves (docs/evaluation.md). The bound keeps the mean from crediting a set with more
 * than the held-out inputs support, and lets a cheap second ramp earn its place. The covered
 * saving keeps the measured shares: `MEDIAN_COVER` is its margin.
 */
import { wilsonLowerBound } from '../util/stats';
import type { PositionCost } from './initial-config';

/**
 * Share of the inputs the "median" saving must reach. A tenth above a half, because held-out
 * shares come from a tenth of the bootstrap and serving retunes thresholds live: a ramp judged to
 * release barely half the inputs may release fewer in serving, and then the median input gains
 * nothing from it.
 */
export const MEDIAN_COVER = 0.6;

/** Sets looked at before the search settles for the best found (a few candidates: all of them). */
const MAX_SETS = 50_000;

export interface SetSaving {
  /** The saving at least MEDIAN_COVER of the inputs get, net of the ramps' cost (share of the model). */
  readonly covered: number;
  /** The expected saving net of the ramps' cost (share of the model). */
  readonly mean: number;
  /** What the set is ranked by: the mean of the two. */
  readonly score: number;
  /** What every input pays for the ramps (share of the model): ties go to the cheaper set. */
  readonly cost: number;
}

/**
 * The saving of ramps at `indices` (shallow to deep): an input leaves at the first ramp that
 * releases it (each ramp's share taken as independent of those before it) and saves the part of
 * the model after that ramp; every input pays every ramp's cost.
 */
export function setSaving(
  positions: readonly PositionCost[],
  plainMs: number,
  indices: readonly number[],
): SetSaving {
  const cost = indices.reduce((sum, i) => sum + (positions[i]?.rampMs ?? 0), 0) / plainMs;
  // Inputs reaching each ramp, by the doubted shares (for the mean) and by the measured ones.
  let reach = 1;
  let measuredReach = 1;
  let released = 0;
  let mean = 0;
  let covered: number | undefined;
  for (const index of indices) {
    const position = positions[index] as PositionCost;
    const share = Math.min(1, Math.max(0, position.exitShare ?? 0));
    const doubted = wilsonLowerBound(share, position.heldOutInputs ?? 0);
    const saved = Math.max(0, 1 - position.backboneMs / plainMs);
    mean += reach * doubted * saved;
    reach *= 1 - doubted;
    released += measuredReach * share;
    measuredReach *= 1 - share;
    if (covered === undefined && released >= MEDIAN_COVER - 1e-12) covered = saved;
  }
  const coveredNet = (covered ?? 0) - cost;
  const meanNet = mean - cost;
  return { covered: coveredNet, mean: meanNet, score: (coveredNet + meanNet) / 2, cost };
}

/** A set of positions (shallow to deep) and its score. */
export interface ScoredSet {
  readonly indices: readonly number[];
  readonly saving: SetSaving;
}

/** Whether `a` ranks above `b`: a higher score, or an equal one at a lower cost. */
export function ranksAbove(a: SetSaving, b: SetSaving): boolean {
  return a.score > b.score + 1e-12 || (Math.abs(a.score - b.score) <= 1e-12 && a.cost < b.cost);
}

/**
 * The `keep` sets among positions [0, latest] with the highest score whose costs sum to at most
 * `budgetMs`, best first; `seed` (another search's choice) is scored too, so that a search cut
 * short at MAX_SETS never ranks below the seed. Only sets whose expected saving is positive.
 */
export function rankedSets(
  positions: readonly PositionCost[],
  plainMs: number,
  latest: number,
  budgetMs: number,
  seed: readonly number[],
  keep: number,
): ScoredSet[] {
  const costOf = (i: number) => positions[i]?.rampMs ?? Infinity;
  const kept: ScoredSet[] = [];
  const seedKey = seed.join();
  const consider = (indices: readonly number[], isSeed = false) => {
    // The enumeration meets the seed again; it is already ranked.
    if (!isSeed && indices.length === seed.length && indices.join() === seedKey) return;
    const saving = setSaving(positions, plainMs, indices);
    if (!(saving.mean > 1e-12)) return;
    let at = kept.length;
    while (at > 0 && ranksAbove(saving, (kept[at - 1] as ScoredSet).saving)) at--;
    if (at >= keep) return;
    kept.splice(at, 0, { indices, saving });
    if (kept.length > keep) kept.pop();
  };
  if (seed.length > 0) consider([...seed], true);
  let looked = 0;
  const chosen: number[] = [];
  const extend = (from: number, spent: number): void => {
    for (let index = from; index <= latest && looked < MAX_SETS; index++) {
      const spend = spent + costOf(index);
      if (spend > budgetMs) continue;
      chosen.push(index);
      looked++;
      consider([...chosen]);
      extend(index + 1, spend);
      chosen.pop();
    }
  };
  extend(0, 0);
  return kept;
}

/**
 * The set among positions [0, latest] with the highest score whose costs sum to at most
 * `budgetMs`, shallow to deep, or `seed` where that ranks higher (see `rankedSets`). Ties go to
 * the cheaper set. Empty where no set's expected saving is positive.
 */
export function mostMiddleSaving(
  positions: readonly PositionCost[],
  plainMs: number,
  latest: number,
  budgetMs: number,
  seed: readonly number[] = [],
): number[] {
  const best = rankedSets(positions, plainMs, latest, budgetMs, seed, 1)[0];
  return best ? [...best.indices] : [];
}
