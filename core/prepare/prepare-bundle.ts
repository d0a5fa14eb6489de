/**
 * The steps `apparate prepare` runs, as one function, so that the local stack prepares its fixture
 * bundles exactly the way an ML engineer would from the command line: a bundle served by
 * `npm start` is never a special case.
 */
import { writeBundle } from '../bundle/bundle-io';
import type { BundleManifest } from '../bundle/manifest';
import { InputError } from '../errors';
import { loadModel, type LoadedModel } from '../model/load-model';
import type { DataSplit } from '../data/dataset';
import { loadSampleInputs } from './sample-inputs';
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
  /**
   * The user's own sample inputs (a folder of images, a .jsonl file or a text file, one input a
   * line) to bootstrap on instead of the fixture data set model.json names.
   */
  readonly samples?: string;
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
  const { stream, description } = await streamFor(model, options.samples);
  const bundle = await prepareModel(
    model,
    stream,
    {
      bootstrapFraction: options.bootstrapFraction,
      rampBudget: options.rampBudget,
      repeats: options.repeats,
      streamSource: description,
      onProgress: (phase, done, total) => progress.update(`${model.spec.name}: ${phase}`, done, total),
    },
    analysed,
  );
  progress.update(`${model.spec.name}: write bundle`, 0, 1);
  await writeBundle(out, bundle);
  progress.update(`${model.spec.name}: write bundle`, 1, 1);
  return bundle.manifest;
}

/** The inputs to bootstrap on: the user's samples, or the fixture data set model.json names. */
async function streamFor(
  model: LoadedModel,
  samples: string | undefined,
): Promise<{ stream: DataSplit; description: string }> {
  if (samples !== undefined) return loadSampleInputs(samples, model.spec);
  if (model.spec.dataset === undefined) {
    throw new InputError(
      `model ${model.spec.name} names no fixture data set in its model.json; give your own sample inputs with --samples <folder of images | file.jsonl | text file, one input a line>`,
    );
  }
  const stream = await loadModelData(model, 'serving');
  return { stream, description: `serving stream of ${model.spec.dataset}` };
}
