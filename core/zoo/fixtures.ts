/**
 * Where the committed fixture models and data sets live, and how to enumerate them. Paths are
 * resolved from this file, not the working directory, so the CLI and tests find the fixtures from
 * anywhere inside or outside the checkout.
 */
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadSplit, type DataSplit, type SplitName } from '../data/dataset';
import { ArtifactError } from '../errors';
import { loadModel, type LoadedModel } from '../model/load-model';

export const ZOO_DIR = resolve(__dirname, '..', '..', 'zoo');
export const ZOO_MODELS_DIR = join(ZOO_DIR, 'models');
export const ZOO_DATA_DIR = join(ZOO_DIR, 'data');

/** Every fixture model under `zoo/models`, in name order. */
export async function listFixtureModels(): Promise<LoadedModel[]> {
  const entries = await readdir(ZOO_MODELS_DIR, { withFileTypes: true });
  const dirs = entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();
  return Promise.all(dirs.map((name) => loadModel(join(ZOO_MODELS_DIR, name))));
}

/** Loads one fixture model by name. */
export function loadFixtureModel(name: string): Promise<LoadedModel> {
  return loadModel(join(ZOO_MODELS_DIR, name));
}

/** Loads a split of the data set a model was trained and measured on. */
export function loadModelData(model: LoadedModel, split: SplitName): Promise<DataSplit> {
  const dataset = model.spec.dataset;
  if (!dataset) throw new ArtifactError(`model ${model.spec.name} names no fixture data set in its model.json`);
  return loadSplit(join(ZOO_DATA_DIR, dataset), split);
}
