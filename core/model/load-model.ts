/**
 * Locating a model on disk. Users point the CLI at a model directory or at its `.onnx` file; both
 * resolve to the same `LoadedModel`, and a model whose bytes no longer match the hash its
 * description records is refused, because every measurement and bundle is keyed by that hash.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { InputError } from '../errors';
import { readJsonFile } from '../util/json-file';
import { modelSpecSchema, type ModelSpec } from './model-spec';

export interface LoadedModel {
  /** Directory holding `model.json` and the ONNX file. */
  readonly dir: string;
  readonly onnxPath: string;
  readonly spec: ModelSpec;
}

/** SHA-256 of a file's bytes as lowercase hex. */
export async function sha256File(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

/** Loads `model.json` from a model directory, or from beside a given `.onnx` file, and checks the hash. */
export async function loadModel(location: string): Promise<LoadedModel> {
  const absolute = resolve(location);
  const info = await stat(absolute).catch((cause: unknown) => {
    throw new InputError(
      `model ${location} does not exist; give a model directory (with model.json) or its .onnx file`,
      { cause },
    );
  });
  const dir = info.isDirectory() ? absolute : dirname(absolute);
  const spec = await readJsonFile(join(dir, 'model.json'), modelSpecSchema, 'model description');
  if (!info.isDirectory() && basename(absolute) !== spec.file) {
    throw new InputError(
      `model file ${location} is not the one its model.json describes (${spec.file}); give the model directory instead`,
    );
  }
  const onnxPath = join(dir, spec.file);
  const actual = await sha256File(onnxPath).catch((cause: unknown) => {
    throw new InputError(`model file ${onnxPath} named by model.json cannot be read`, { cause });
  });
  if (actual !== spec.sha256) {
    throw new InputError(
      `model file ${onnxPath} has sha256 ${actual.slice(0, 12)}… but model.json records ${spec.sha256.slice(0, 12)}…; rebuild the model description`,
    );
  }
  return { dir, onnxPath, spec: await withTokenizerContent(dir, spec) };
}

/**
 * A text model naming a Hugging Face tokenizer.json gets the file's content in its spec, so that
 * everything built from the spec (bundles, encoders) carries the tokenizer along.
 */
async function withTokenizerContent(dir: string, spec: ModelSpec): Promise<ModelSpec> {
  const pre = spec.preprocessing;
  if (pre.type !== 'text' || pre.tokenizer.type !== 'huggingface' || pre.tokenizer.content !== undefined)
    return spec;
  const path = join(dir, pre.tokenizer.file);
  const text = await readFile(path, 'utf8').catch((cause: unknown) => {
    throw new InputError(`tokenizer file ${path} named by model.json cannot be read`, { cause });
  });
  let content: unknown;
  try {
    content = JSON.parse(text);
  } catch (cause) {
    throw new InputError(`tokenizer file ${path} is not JSON: ${(cause as Error).message}`, { cause });
  }
  if (typeof content !== 'object' || content === null || Array.isArray(content)) {
    throw new InputError(`tokenizer file ${path} must hold a JSON object (a Hugging Face tokenizer.json)`);
  }
  return {
    ...spec,
    preprocessing: { ...pre, tokenizer: { ...pre.tokenizer, content: content as Record<string, unknown> } },
  };
}
