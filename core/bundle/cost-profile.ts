/**
 * The bundle's measured profile as the control loops' latency model. The backbone time to a
 * candidate is the plain model's time scaled by the share of the chained segments' time spent
 * before that candidate at the same batch size: exits then line up with the plain model at the
 * end, and the few percent that separate one session from a chain of sessions do not make early
 * exits look better or worse than they are.
 */
import type { CostProfile } from '../control/costs';
import type { BundleManifest } from './manifest';

/** Builds the controller's cost profile from a bundle manifest. */
export function costProfileFromManifest(manifest: BundleManifest): CostProfile {
  const { profile } = manifest;
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
      rampMs: profile.rampMs[candidate.id] ?? profile.batchSizes.map(() => 0),
    })),
  };
}
