/**
 * The bundles the evaluation serves: `.cache/bundles/<model>` (ignored by git), prepared with the
 * same steps as `apparate prepare` when missing, so a clean clone needs nothing beyond `npm ci`.
 * Preparation takes most of a minute per model on two cores; it prints one line per phase and is
 * timed, because it counts toward the benchmark's 30-minute limit.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { prepareBundle } from '../../core/prepare/prepare-bundle';
import { DEFAULT_PREPARE } from '../../core/prepare/prepare-model';
import { ZOO_MODELS_DIR } from '../../core/zoo/fixtures';

/** Timed runs per profile measurement, as `apparate prepare` does by default. */
const PREPARE_REPEATS = 15;

export interface PreparedBundleInfo {
  readonly dir: string;
  /** Seconds spent preparing it in this run; 0 when it was already there. */
  readonly preparedSeconds: number;
}

/** Returns the bundle folder of `model` under `bundlesDir`, preparing it first when missing. */
export async function ensureBundle(
  model: string,
  bundlesDir: string,
  log: (line: string) => void,
): Promise<PreparedBundleInfo> {
  const dir = join(bundlesDir, model);
  if (existsSync(join(dir, 'manifest.json'))) return { dir, preparedSeconds: 0 };
  log(`${model}: preparing bundle into ${dir} (about a minute)`);
  const began = performance.now();
  let phase = '';
  await prepareBundle(
    join(ZOO_MODELS_DIR, model),
    dir,
    {
      bootstrapFraction: DEFAULT_PREPARE.bootstrapFraction,
      rampBudget: DEFAULT_PREPARE.rampBudget,
      repeats: PREPARE_REPEATS,
    },
    {
      update(label) {
        if (label === phase) return;
        phase = label;
        log(`  ${label}`);
      },
      stop: () => undefined,
    },
  );
  const preparedSeconds = (performance.now() - began) / 1000;
  log(`${model}: bundle ready in ${preparedSeconds.toFixed(0)} s`);
  return { dir, preparedSeconds };
}
