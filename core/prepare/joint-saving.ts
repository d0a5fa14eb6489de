/**
 * What a set of ramps saves judged on the same inputs together, not ramp by ramp.
 *
 * `setSaving` (middle-saving.ts) multiplies each ramp's own share as if ramps released
 * independent inputs. They do not: the inputs a shallow ramp leaves are the hard ones, and a deep
 * ramp that releases every input on its own may release none of those. With every candidate's
 * out-of-fold observations on the whole bootstrap (cross-fitted.ts), a set's thresholds are tuned
 * together with the controller's own tuner, each input leaves where the tuned set releases it, and
 * the set is scored as `setSaving` scores it (the saving the median input gets, with
 * `MEDIAN_COVER`'s margin, and the mean, both net of what every input pays for the ramps), from
 * those exits instead of the independence product.
 *
 * Sets are tuned to `PLACEMENT_AGREEMENT`, above the constraint: serving holds agreement
 * 0.3–0.5 points above it (the tuner's headroom), and there the sets differ most (on
 * mnist-resnet's serving stream c0 + c1 + c3 released 87.5% at 99% and 65.7% at 99.5%, while
 * c0 + c1 + c3 + c5 released 97.1% and 92.8%).
 */
import { DEFAULT_CONSTRAINT, tuneThresholds } from '../control/threshold-tuner';
import { exitIndex } from '../control/exit-rule';
import { windowFromColumns, type ConfigCosts } from '../control/records';
import type { PositionCost } from './initial-config';
import { MEDIAN_COVER, rankedSets, ranksAbove, type SetSaving } from './middle-saving';

/** One candidate's ramp judged on every bootstrap input, by a ramp not trained on that input. */
export interface RampObservations {
  /** Top softmax probability per bootstrap input. */
  readonly confidence: Float32Array;
  /** 1 where the ramp's class equals the full model's, per bootstrap input. */
  readonly agrees: Uint8Array;
}

/** The agreement sets are tuned to: the default constraint plus half of what it leaves. */
export const PLACEMENT_AGREEMENT = DEFAULT_CONSTRAINT + (1 - DEFAULT_CONSTRAINT) / 2;

/**
 * Sets judged jointly: the best this many by the independence score (all of them on a model with
 * a few candidates), so that the joint tuning stays a fraction of a second.
 */
export const JOINT_SHORTLIST = 256;

export interface JointSetSaving extends SetSaving {
  /** Share of the bootstrap inputs the tuned set releases early. */
  readonly released: number;
}

/** The saving of the ramps at `indices` (shallow to deep), tuned together on their observations. */
export function jointSetSaving(
  positions: readonly PositionCost[],
  plainMs: number,
  indices: readonly number[],
  target: number = PLACEMENT_AGREEMENT,
): JointSetSaving {
  const placed = indices.map((i) => positions[i] as PositionCost);
  const observed = placed.map((p) => {
    if (!p.observations) throw new Error(`position ${p.id} has no cross-fitted observations`);
    return p.observations;
  });
  const rampMs = placed.map((p) => p.rampMs);
  const paid = rampMs.reduce((sum, ms) => sum + ms, 0);
  let before = 0;
  const costs: ConfigCosts = {
    exitMs: placed.map((p, r) => p.backboneMs + (before += rampMs[r] as number)),
    finalMs: plainMs + paid,
    plainMs,
    rampMs,
  };
  const window = windowFromColumns(
    observed.map((o) => o.confidence),
    observed.map((o) => o.agrees),
  );
  const { thresholds } = tuneThresholds(window, costs, { constraint: target });
  const saved = new Float64Array(window.count);
  let released = 0;
  for (let i = 0; i < window.count; i++) {
    const r = exitIndex(window, i, thresholds);
    if (r < 0) continue;
    released++;
    saved[i] = Math.max(0, 1 - (placed[r] as PositionCost).backboneMs / plainMs);
  }
  const cost = paid / plainMs;
  const mean = window.count > 0 ? saved.reduce((sum, s) => sum + s, 0) / window.count : 0;
  // The saving at least MEDIAN_COVER of the inputs get: the one at that rank, largest first.
  const ranked = Array.from(saved).sort((a, b) => b - a);
  const covered = ranked[Math.max(0, Math.ceil(MEDIAN_COVER * ranked.length - 1e-9) - 1)] ?? 0;
  return {
    covered: covered - cost,
    mean: mean - cost,
    score: (covered - cost + (mean - cost)) / 2,
    cost,
    released: window.count > 0 ? released / window.count : 0,
  };
}

/**
 * The set among positions [0, latest] within `budgetMs` that saves the most judged jointly, among
 * the `JOINT_SHORTLIST` best by the independence score (and `seed`); ties go to the cheaper set.
 * Null where no shortlisted set's joint expected saving is positive.
 */
export function mostJointSaving(
  positions: readonly PositionCost[],
  plainMs: number,
  latest: number,
  budgetMs: number,
  seed: readonly number[] = [],
): { readonly indices: number[]; readonly saving: JointSetSaving } | null {
  let best: { indices: number[]; saving: JointSetSaving } | null = null;
  for (const set of rankedSets(positions, plainMs, latest, budgetMs, seed, JOINT_SHORTLIST)) {
    const saving = jointSetSaving(positions, plainMs, set.indices);
    if (saving.mean > 1e-12 && (!best || ranksAbove(saving, best.saving)))
      best = { indices: [...set.indices], saving };
  }
  return best;
}
