/**
 * The bundles the local stack serves: one per fixture model, prepared on first start and cached in
 * an ignored folder. A cached bundle is reused only while it still matches the committed model
 * (same file hash), was placed with the budget asked for, was profiled with the operator threads
 * the workers' lanes use, and has the candidates the current
 * analysis finds; a stale or half-understood one is
 * prepared again, so `npm start` after a model change never serves old ramps.
 */
import { exitTapState } from '../../core/inference/exit-tap';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { readBundle } from '../../core/bundle/bundle-io';
import { analyseSource } from '../../core/prepare/model-source';
import { DEFAULT_PREPARE } from '../../core/prepare/prepare-model';
import { loadFixtureModel, ZOO_MODELS_DIR } from '../../core/zoo/fixtures';
import { prepareBundle } from '../../core/prepare/prepare-bundle';
import { defaultThreadLayout } from '../../core/inference/thread-layout';
import type { Progress } from '../progress';

/** What became of each model's bundle, for the start-up log. */
export interface FixtureBundle {
  readonly model: string;
  readonly dir: string;
  readonly prepared: boolean;
}

export interface FixtureBundleOptions {
  /** Folder holding one bundle per model. */
  readonly cacheDir: string;
  readonly models: readonly string[];
  /** Timed runs per profile measurement; fewer starts sooner, more gives steadier placements. */
  readonly repeats: number;
  /** The ramp budget bundles are placed with; a cached bundle placed with another is prepared again. */
  readonly rampBudget: number;
  readonly progress: Progress;
}

/** Returns a usable bundle directory per model, preparing the ones missing or out of date. */
export async function ensureFixtureBundles(options: FixtureBundleOptions): Promise<FixtureBundle[]> {
  const bundles: FixtureBundle[] = [];
  for (const model of options.models) {
    const dir = join(options.cacheDir, model);
    if (await isCurrent(dir, model, options.rampBudget)) {
      bundles.push({ model, dir, prepared: false });
      continue;
    }
    await rm(dir, { recursive: true, force: true });
    await prepareBundle(
      join(ZOO_MODELS_DIR, model),
      dir,
      {
        bootstrapFraction: DEFAULT_PREPARE.bootstrapFraction,
        rampBudget: options.rampBudget,
        repeats: options.repeats,
      },
      options.progress,
    );
    options.progress.stop();
    bundles.push({ model, dir, prepared: true });
  }
  return bundles;
}

async function isCurrent(dir: string, model: string, rampBudget: number): Promise<boolean> {
  if (!existsSync(dir)) return false;
  try {
    const [bundle, fixture] = await Promise.all([readBundle(dir), loadFixtureModel(model)]);
    if (bundle.manifest.model.sha256 !== fixture.spec.sha256 || bundle.manifest.rampBudget !== rampBudget) {
      return false;
    }
    // Profiled with other operator threads than the workers' lanes use: its costs are not theirs.
    if ((bundle.manifest.profile.intraOpThreads ?? 0) !== defaultThreadLayout('cpu').intraOpThreads)
      return false;
    // Profiled before ramps were charged their operators and cuts their served cost (the old
    // figures crowded ramps out of the budget and under-charged cuts), or for the other way of
    // serving ramps than this machine's workers use (exit taps where available, else cuts).
    const { rampTiming, cutTiming } = bundle.manifest.profile;
    const served = exitTapState().available ? 'tap' : 'split';
    if (rampTiming !== 'operators' || cutTiming !== served) return false;
    // Placed before placements were confirmed: its ramps may sit on a cut charged its luckiest round.
    const placed = bundle.manifest.initialConfig.ramps.length > 0;
    if (placed && bundle.manifest.profile.placementChecks === undefined) return false;
    // Placed before the count of held-out inputs behind each exit share was kept: its placement
    // took a share seen on a few inputs at face value (core/prepare/middle-saving.ts).
    if (
      bundle.manifest.candidates.some(
        (c) => c.ramp.heldOutExitShare !== undefined && c.ramp.heldOutInputs === undefined,
      )
    )
      return false;
    // A newer analysis may offer other candidates (the worker refuses a bundle whose ramps sit elsewhere).
    const { analysis } = await analyseSource(join(ZOO_MODELS_DIR, model));
    const key = (c: { id: string; tensor: string }) => `${c.id}:${c.tensor}`;
    return analysis.candidates.map(key).join() === bundle.manifest.candidates.map(key).join();
  } catch {
    // Unreadable or from an older format: preparing again is the fix, not an error.
    return false;
  }
}
