/**
 * The bundle's measured profile as the control loops' latency model. The backbone time to a
 * candidate is the plain model's time scaled by the share of the chained segments' time spent
 * before that candidate at the same batch size, so exits line up with the plain model at the end.
 * What separates one session from a chain of sessions is not lost, though: it is what a cut costs,
 * and a ramp cannot be switched on without its cut, so each ramp's cost is its own time plus its
 * cut's. Cuts differ (one that splits a residual block from its skip connection costs more than
 * one between stages), so each candidate's cut is measured on its own (`cutMs`); bundles prepared
 * before that share the chain's excess evenly. The ramp budget ("an input that exits nowhere is
 * at most 2% slower") and every utility are then judged on what serving with the ramp really costs.
 */
import type { CostProfile } from '../control/costs';
import type { BundleManifest } from './manifest';

/** The measured timings a cut's cost is derived from. */
export interface ChainTimings {
  /** Per segment of the chain cut at every candidate, per batch size, ms. */
  readonly segmentMs: readonly (readonly number[])[];
  /** The plain model, one session, per batch size, ms. */
  readonly plainMs: readonly number[];
}

/**
 * What one cut adds, per batch size: the chain cut at every candidate minus one session over the
 * whole model, shared evenly among the cuts (a session run, the activation copied out and back in,
 * thread-pool wake-ups). Never negative: a chain measured faster than the whole model is noise.
 */
export function cutOverheadMs(timings: ChainTimings): number[] {
  const cuts = timings.segmentMs.length - 1;
  return timings.plainMs.map((plain, slot) => {
    if (cuts <= 0) return 0;
    const chain = timings.segmentMs.reduce((sum, segment) => sum + (segment[slot] ?? 0), 0);
    return Math.max(0, (chain - plain) / cuts);
  });
}

/** What cutting at each candidate (by id) costs per batch size: measured per candidate, else shared. */
export function cutCostsMs(
  profile: ChainTimings & { readonly cutMs?: Readonly<Record<string, readonly number[]>> },
  candidateIds: readonly string[],
): Map<string, number[]> {
  const shared = cutOverheadMs(profile);
  return new Map(
    candidateIds.map((id) => {
      const measured = profile.cutMs?.[id];
      return [id, shared.map((share, slot) => measured?.[slot] ?? share)];
    }),
  );
}

/** Builds the controller's cost profile from a bundle manifest. */
export function costProfileFromManifest(manifest: BundleManifest): CostProfile {
  const { profile } = manifest;
  const cuts = cutCostsMs(
    profile,
    manifest.candidates.map((c) => c.id),
  );
  const chainTotals = profile.batchSizes.map((_, slot) =>
    profile.segmentMs.reduce((sum, segment) => sum + (segment[slot] ?? 0), 0),
  );
  return {
    batchSizes: profile.batchSizes,
    plainMs: profile.plainMs,
    referenceBatchSize: profile.referenceBatchSize,
    candidates: manifest.candidates.map((candidate, index) => ({
      id: candidate.id,
      backboneMs: profile.batchSizes.map((_, slot) => {
        let before = 0;
        for (let s = 0; s <= index; s++) before += profile.segmentMs[s]?.[slot] ?? 0;
        const total = chainTotals[slot] || 1;
        return (profile.plainMs[slot] as number) * (before / total);
      }),
      rampMs: profile.batchSizes.map(
        (_, slot) => (profile.rampMs[candidate.id]?.[slot] ?? 0) + (cuts.get(candidate.id)?.[slot] ?? 0),
      ),
    })),
  };
}
