/**
 * The latency model the simulator and the controller share, derived from a bundle's profile. An
 * exit at candidate i is released after the backbone up to i plus the active ramps up to i; the
 * backbone time is the plain model's time scaled by the share of the chained segments' time spent
 * before i at that batch size, so exit times and the plain model agree at the end.
 */
import type { LatencyProfile } from '../bundle/manifest';
import type { ConfigCosts } from '../control/records';
import { ArtifactError } from '../errors';

/** Index of the smallest profiled batch size that holds `size` inputs (the padded size). */
export function paddedSlot(profile: LatencyProfile, size: number): number {
  const slot = profile.batchSizes.findIndex((b) => b >= size);
  if (slot < 0) {
    throw new ArtifactError(`batch of ${size} exceeds the largest profiled batch size ${profile.batchSizes.at(-1) ?? 0}`);
  }
  return slot;
}

/** Share of the plain model's time spent before each candidate's cut, at one batch-size slot. */
export function backboneFractions(profile: LatencyProfile, slot: number): number[] {
  const segments = profile.segmentMs.map((s) => s[slot] ?? 0);
  const total = segments.reduce((a, b) => a + b, 0) || 1;
  const fractions: number[] = [];
  let sum = 0;
  for (let i = 0; i < segments.length - 1; i++) {
    sum += segments[i] as number;
    fractions.push(sum / total);
  }
  return fractions;
}

/** Costs of running `activeIds` (shallow to deep) at a batch-size slot. */
export function configCosts(
  profile: LatencyProfile,
  candidateIds: readonly string[],
  activeIds: readonly string[],
  slot: number,
): ConfigCosts {
  const vanillaMs = profile.vanillaMs[slot] as number;
  const fractions = backboneFractions(profile, slot);
  const rampMs = activeIds.map((id) => profile.rampMs[id]?.[slot] ?? 0);
  const exitMs: number[] = [];
  let rampSum = 0;
  activeIds.forEach((id, r) => {
    const index = candidateIds.indexOf(id);
    if (index < 0) throw new ArtifactError(`config names unknown candidate ${id}`);
    rampSum += rampMs[r] as number;
    exitMs.push(vanillaMs * (fractions[index] ?? 1) + rampSum);
  });
  return { exitMs, finalMs: vanillaMs + rampSum, vanillaMs, rampMs };
}
