/**
 * Latency model of ramp configurations, derived from a bundle's per-batch-size profile: how long
 * an input takes to be released at each active exit point, and what the ramps cost an input that
 * exits nowhere. Every decision of the controller (tuning, utility, budget) is in these
 * milliseconds, so they are computed in one place.
 */
import { InputError } from '../errors';
import type { ConfigCosts } from './records';

/** One candidate position's profile, one entry per profiled batch size. */
export interface CandidateProfile {
  readonly id: string;
  /** Time from the start of the model to this position, per batch size, in ms. */
  readonly backboneMs: readonly number[];
  /** The position's ramp's own time, per batch size, in ms. */
  readonly rampMs: readonly number[];
}

/** The profile of a prepared model: candidates shallow to deep, timings per profiled batch size. */
export interface CostProfile {
  /** Profiled batch sizes, ascending. */
  readonly batchSizes: readonly number[];
  /** Plain model's time per batch size, in ms. */
  readonly plainMs: readonly number[];
  readonly candidates: readonly CandidateProfile[];
  /** Batch size at which the ramp budget and the latest useful candidate are judged. */
  readonly referenceBatchSize: number;
}

/** The profile's timings at one batch size. */
export interface CostsAtBatch {
  readonly plainMs: number;
  readonly backboneMs: readonly number[];
  readonly rampMs: readonly number[];
}

/** Rejects a profile whose arrays disagree in length, so lookups below can never read past an end. */
export function validateProfile(profile: CostProfile): void {
  const sizes = profile.batchSizes.length;
  if (sizes === 0) throw new InputError('a cost profile needs at least one batch size');
  profile.batchSizes.forEach((size, i) => {
    if (!Number.isInteger(size) || size <= 0)
      throw new InputError(`batch size ${size} is not a positive integer`);
    if (i > 0 && size <= (profile.batchSizes[i - 1] as number))
      throw new InputError('batch sizes must be ascending');
  });
  const positive = (values: readonly number[], what: string) => {
    if (values.length !== sizes)
      throw new InputError(`${what} has ${values.length} entries for ${sizes} batch sizes`);
    for (const value of values) {
      if (!(Number.isFinite(value) && value >= 0))
        throw new InputError(`${what} holds ${value}, not a time in ms`);
    }
  };
  positive(profile.plainMs, 'plainMs');
  for (const candidate of profile.candidates) {
    positive(candidate.backboneMs, `candidate ${candidate.id} backboneMs`);
    positive(candidate.rampMs, `candidate ${candidate.id} rampMs`);
  }
  if (!profile.batchSizes.includes(profile.referenceBatchSize)) {
    throw new InputError(
      `reference batch size ${profile.referenceBatchSize} is not one of the profiled sizes`,
    );
  }
}

/**
 * Timings at a batch size. Batches are padded to the next profiled size, so a size between two
 * profiled ones costs the larger; a size beyond the largest is scaled linearly from the largest
 * rather than refused, because an online controller must keep working on an unexpected batch.
 */
export function costsAtBatch(profile: CostProfile, batchSize: number): CostsAtBatch {
  const { batchSizes } = profile;
  let column = batchSizes.findIndex((size) => size >= batchSize);
  let scale = 1;
  if (column < 0) {
    column = batchSizes.length - 1;
    scale = batchSize / (batchSizes[column] as number);
  }
  const at = (values: readonly number[]) => (values[column] as number) * scale;
  return {
    plainMs: at(profile.plainMs),
    backboneMs: profile.candidates.map((c) => at(c.backboneMs)),
    rampMs: profile.candidates.map((c) => at(c.rampMs)),
  };
}

/**
 * The latency model of the config whose active ramps are the candidates `active` (ascending
 * indices), as the exit rule and the tuner consume it.
 */
export function configCosts(atBatch: CostsAtBatch, active: readonly number[]): ConfigCosts {
  const exitMs: number[] = [];
  const rampMs: number[] = [];
  let rampSum = 0;
  for (const index of active) {
    const backbone = atBatch.backboneMs[index];
    const ramp = atBatch.rampMs[index];
    if (backbone === undefined || ramp === undefined)
      throw new InputError(`candidate index ${index} is out of range`);
    rampSum += ramp;
    rampMs.push(ramp);
    exitMs.push(backbone + rampSum);
  }
  return { exitMs, finalMs: atBatch.plainMs + rampSum, plainMs: atBatch.plainMs, rampMs };
}

/** Shorthand for `configCosts(costsAtBatch(profile, batchSize), active)`. */
export function configCostsAt(
  profile: CostProfile,
  active: readonly number[],
  batchSize: number,
): ConfigCosts {
  return configCosts(costsAtBatch(profile, batchSize), active);
}

/**
 * Index of the deepest candidate whose exit (backbone plus its own ramp) is still faster than
 * the plain model at the reference batch size, or -1 when none is: deeper ramps can only cost.
 * This is the same rule the preparation uses for the initial placement.
 */
export function latestUsefulIndex(profile: CostProfile): number {
  const reference = costsAtBatch(profile, profile.referenceBatchSize);
  let latest = -1;
  reference.backboneMs.forEach((backbone, index) => {
    if (backbone + (reference.rampMs[index] as number) < reference.plainMs) latest = index;
  });
  return latest;
}

/** The ramp budget in ms: what all active ramps together may add to a non-exiting input. */
export function rampBudgetMs(profile: CostProfile, rampBudget: number): number {
  return rampBudget * costsAtBatch(profile, profile.referenceBatchSize).plainMs;
}
