/**
 * The bundle's measured profile as the control loops' latency model. The backbone time to a
 * candidate is the plain model's time scaled by the share of the chained segments' time spent
 * before that candidate at the same batch size, so exits line up with the plain model at the end.
 * What separates one session from a chain of sessions is not lost, though: it is what a cut costs,
 * and a ramp cannot be switched on without its cut, so each ramp's cost is its own time plus one
 * cut's share of that difference. The ramp budget ("an input that exits nowhere is at most 2%
 * slower") and every utility are then judged on what serving with the ramp really costs.
 */
import type { CostProfile } from '../control/costs';
import type { BundleManifest } from './manifest';

/** The measured timings a cut's cost is derived from. */
export interface ChainTimings {
  /** Per segment of the chain cut at every candidate, per batch size, ms. */
  readonly segmentMs: readonly (readonly number[])[];
  /** The plain model, one session, per batch size, ms. */
  readonly vanillaMs: readonly number[];
}

/**
 * What one cut adds, per batch size: the chain cut at every candidate minus one session over the
 * whole model, shared evenly among the cuts (a session run, the activation copied out and back in,
 * thread-pool wake-ups). Never negative: a chain measured faster than the whole model is noise.
 */
export function cutOverheadMs(timings: ChainTimings): number[] {
  const cuts = timings.segmentMs.length - 1;
  return timings.vanillaMs.map((vanilla, slot) => {
    if (cuts <= 0) return 0;
    const chain = timings.segmentMs.reduce((sum, segment) => sum + (segment[slot] ?? 0), 0);
    return Math.max(0, (chain - vanilla) / cuts);
  });
}

/** Builds the controller's cost profile from a bundle manifest. */
export function costProfileFromManifest(manifest: BundleManifest): CostProfile {
  const { profile } = manifest;
  const perCut = cutOverheadMs(profile);
  const chainTotals = profile.batchSizes.map((_, slot) =>
    profile.segmentMs.reduce((sum, segment) => sum + (segment[slot] ?? 0), 0),
  );
  return {
    batchSizes: profile.batchSizes,
    vanillaMs: profile.vanillaMs,
    referenceBatchSize: profile.referenceBatchSize,
    candidates: manifest.candidates.map((candidate, index) => ({
      id: candidate.id,
      backboneMs: profile.batchSizes.map((_, slot) => {
        let before = 0;
        for (let s = 0; s <= index; s++) before += profile.segmentMs[s]?.[slot] ?? 0;
        const total = chainTotals[slot] || 1;
        return (profile.vanillaMs[slot] as number) * (before / total);
      }),
      rampMs: profile.batchSizes.map(
        (_, slot) => (profile.rampMs[candidate.id]?.[slot] ?? 0) + (perCut[slot] as number),
      ),
    })),
  };
}
