/**
 * The steps `apparate prepare` runs, as one function, so that the local stack prepares its fixture
 * bundles exactly the way an ML engineer would from the command line: a bundle served by
 * `npm start` is never a special case.
 */
import { writeBundle } from '../bundle/bundle-io';
import type { BundleManifest } from '../bundle/manifest';
import { InputError } from '../errors';
import { loadModel } from '../model/load-model';
import type { InputShapes } from '../onnx/input-shapes';
import { analyseSource } from './model-source';
import { prepareModel } from './prepare-model';
import { loadModelData } from '../zoo/fixtures';
import type { Progress } from '../util/progress';

export interface PrepareBundleOptions {
  readonly bootstrapFraction: number;
  readonly rampBudget: number;
  /** Timed runs per profile measurement. */
  readonly repeats: number;
  /** Pinned input sizes from `--input-shape`; they must agree with model.json's inputs. */
  readonly inputShapes?: InputShapes;
}

/**
 * Prepares the model at `location` (a model directory with `model.json`, or its ONNX file) and
 * writes the bundle atomically to `out`, which must not exist yet. Returns the manifest written.
 */
export async function prepareBundle(
  location: string,
  out: string,
  options: PrepareBundleOptions,
  progress: Progress,
): Promise<BundleManifest> {
  const analysed = await analyseSource(location, options.inputShapes);
  if (!analysed.hasDescription) {
    throw new InputError(
      `model ${location} has no model.json beside it; prepare needs one naming the inputs, classes, preprocessing and data set`,
    );
  }
  const model = await loadModel(location);
  const stream = await loadModelData(model, 'serving');
  const bundle = await prepareModel(
    model,
    stream,
    {
      bootstrapFraction: options.bootstrapFraction,
      rampBudget: options.rampBudget,
      repeats: options.repeats,
      onProgress: (phase, done, total) => progress.update(`${model.spec.name}: ${phase}`, done, total),
    },
    analysed,
  );
  progress.update(`${model.spec.name}: write bundle`, 0, 1);
  await writeBundle(out, bundle);
  progress.update(`${model.spec.name}: write bundle`, 1, 1);
  return bundle.manifest;
}
