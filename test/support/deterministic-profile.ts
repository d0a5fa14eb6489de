/**
 * Replaces a prepared bundle's measured latency profile with a deterministic one derived from the
 * candidates' share of the model's multiply-accumulates, and re-derives the initial placement from
 * it. Tests of the control loops and the simulator then see the same ramp set and timings on every
 * machine, however loaded; the measured profiles are exercised by the preparation tests.
 */
import type { LoadedBundle, PreparedBundle } from '../../core/bundle/bundle-io';
import type { DataSplit } from '../../core/data/dataset';
import type { LoadedModel } from '../../core/model/load-model';
import { analyzeGraph } from '../../core/onnx/graph-analysis';
import { readOnnxModel } from '../../core/onnx/onnx-model';
import { chooseInitialRamps } from '../../core/prepare/initial-config';
import { prepareModel } from '../../core/prepare/prepare-model';
import { loadFixtureModel, loadModelData } from '../../core/zoo/fixtures';
import { cachedFixtureBundle } from './fixture-cache';

/** Plain-model milliseconds for a batch: a fixed cost plus a per-input cost. */
const plainMs = (batchSize: number) => 0.5 + 0.8 * batchSize;
/** Each ramp's own cost as a share of the plain model's time. */
const RAMP_SHARE = 0.004;

export function withDeterministicProfile(
  prepared: PreparedBundle,
  macFractions: readonly number[],
): PreparedBundle {
  const { manifest } = prepared;
  const sizes = manifest.profile.batchSizes;
  const bounds = [0, ...macFractions, 1];
  const segmentMs = bounds
    .slice(1)
    .map((end, i) => sizes.map((b) => (end - (bounds[i] as number)) * plainMs(b)));
  const rampMs = Object.fromEntries(
    manifest.candidates.map((c) => [c.id, sizes.map((b) => RAMP_SHARE * plainMs(b))]),
  );
  // The segments above sum to the plain model exactly, so a cut costs nothing here; the cuts the
  // preparation measured (noisy on a busy machine) must not leak into the deterministic profile.
  const cutMs = Object.fromEntries(manifest.candidates.map((c) => [c.id, sizes.map(() => 0)]));
  const candidates = manifest.candidates.map((c, i) => ({
    ...c,
    latencyFraction: macFractions[i] as number,
  }));
  const reference = plainMs(manifest.profile.referenceBatchSize);
  const placement = chooseInitialRamps(
    candidates.map((c) => ({
      id: c.id,
      backboneMs: reference * c.latencyFraction,
      rampMs: RAMP_SHARE * reference,
    })),
    reference,
    manifest.rampBudget,
  );
  return {
    ...prepared,
    manifest: {
      ...manifest,
      candidates,
      profile: { ...manifest.profile, plainMs: sizes.map(plainMs), segmentMs, rampMs, cutMs },
      latestUsefulCandidate:
        placement.latestUseful === null ? null : (candidates[placement.latestUseful]?.id ?? null),
      initialConfig: {
        version: 0,
        ramps: placement.chosen.map((i) => ({ id: candidates[i]?.id as string, threshold: 0 })),
      },
    },
  };
}

/**
 * A fixture model prepared as `apparate prepare` would, with the deterministic profile above; the
 * bundle comes from the run's shared cache when an earlier test file prepared it (fixture-cache.ts).
 */
export async function prepareDeterministicFixture(name: string): Promise<{
  readonly fixture: LoadedModel;
  readonly serving: DataSplit;
  readonly prepared: LoadedBundle;
}> {
  const fixture = await loadFixtureModel(name);
  const serving = await loadModelData(fixture, 'serving');
  const prepared = await cachedFixtureBundle(name, async () => {
    const analysis = await analyzeGraph(await readOnnxModel(fixture.onnxPath));
    const measured = await prepareModel(fixture, serving, { repeats: 2, warmupRuns: 1 });
    return withDeterministicProfile(
      measured,
      analysis.candidates.map((c) => c.costFraction),
    );
  });
  return { fixture, serving, prepared };
}
