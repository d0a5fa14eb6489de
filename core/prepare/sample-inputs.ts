/**
 * A user's own sample inputs as the stream a preparation bootstraps on, for models that come
 * without a fixture data set: a folder of PNG/JPEG files, a JSON Lines file (one request input a
 * line, as `POST /v1/models/{m}/infer` takes it), or a plain text file (one text a line). Every
 * sample passes the model's own input validation, so what the ramps train on is exactly what the
 * API will serve. The samples carry no labels: the preparation trains on the model's own answers.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { DataSplit } from '../data/dataset';
import type { RawSample } from '../inference/batch-encoding';
import { InputError } from '../errors';
import { createInputValidator } from '../inference/input-validation';
import type { ModelSpec } from '../model/model-spec';

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);

/** How the samples were given, for the bundle's record of what it bootstrapped on. */
export interface SampleInputs {
  readonly stream: DataSplit;
  readonly description: string;
}

/** Reads the samples at `path` for `spec`'s model; refuses anything the model could not serve. */
export async function loadSampleInputs(path: string, spec: ModelSpec): Promise<SampleInputs> {
  const info = await stat(path).catch((cause: unknown) => {
    throw new InputError(
      `samples ${path} do not exist; give a folder of PNG/JPEG images, a .jsonl file or a text file with one input a line`,
      { cause },
    );
  });
  const inputs = info.isDirectory() ? await imageFolder(path, spec) : await linesOf(path, spec);
  const validate = createInputValidator(spec);
  const stream =
    spec.preprocessing.type === 'image' ? imageStream(inputs, validate, spec) : textStream(inputs, validate);
  return { stream, description: `${stream.count} samples from ${path}` };
}

interface NamedInput {
  readonly where: string;
  readonly input: unknown;
}

async function imageFolder(dir: string, spec: ModelSpec): Promise<NamedInput[]> {
  if (spec.preprocessing.type !== 'image') {
    throw new InputError(
      `samples ${dir} is a folder, which holds images; model ${spec.name} takes text: give a text file with one input a line, or a .jsonl file`,
    );
  }
  const names = (await readdir(dir))
    .filter((name) => IMAGE_EXTENSIONS.has(extname(name).toLowerCase()))
    .sort();
  if (names.length === 0) throw new InputError(`samples folder ${dir} holds no .png, .jpg or .jpeg files`);
  return Promise.all(
    names.map(async (name) => ({
      where: join(dir, name),
      input: { image: (await readFile(join(dir, name))).toString('base64') },
    })),
  );
}

async function linesOf(path: string, spec: ModelSpec): Promise<NamedInput[]> {
  const lines = (await readFile(path, 'utf8')).split(/\r?\n/);
  const jsonLines = extname(path).toLowerCase() === '.jsonl';
  if (!jsonLines && spec.preprocessing.type === 'image') {
    throw new InputError(
      `samples ${path} is a text file; model ${spec.name} takes images: give a folder of PNG/JPEG files, or a .jsonl file with one input a line`,
    );
  }
  const inputs: NamedInput[] = [];
  lines.forEach((line, index) => {
    if (line.trim() === '') return;
    const where = `${path} line ${index + 1}`;
    if (!jsonLines) {
      inputs.push({ where, input: line });
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (cause) {
      throw new InputError(`${where} is not JSON: ${(cause as Error).message}`, { cause });
    }
    // A line may be a whole request body ({"inputs": ...}) or the input itself.
    const isBody = typeof value === 'object' && value !== null && !Array.isArray(value) && 'inputs' in value;
    inputs.push({ where, input: isBody ? (value as { inputs: unknown }).inputs : value });
  });
  if (inputs.length === 0) throw new InputError(`samples file ${path} holds no inputs`);
  return inputs;
}

function checked(
  inputs: readonly NamedInput[],
  validate: ReturnType<typeof createInputValidator>,
): RawSample[] {
  return inputs.map(({ where, input }) => {
    const result = validate(input);
    if (!result.ok) throw new InputError(`${where}: ${result.problem.message}`);
    return result.sample;
  });
}

function imageStream(
  inputs: readonly NamedInput[],
  validate: ReturnType<typeof createInputValidator>,
  spec: ModelSpec,
): DataSplit {
  const pre = spec.preprocessing;
  if (pre.type !== 'image') throw new Error('an image stream needs an image model');
  const size = pre.channels * pre.height * pre.width;
  const samples = checked(inputs, validate);
  const pixels = new Uint8Array(samples.length * size);
  samples.forEach((sample, row) => {
    if (sample.kind !== 'image') return;
    for (let i = 0; i < size; i++) pixels[row * size + i] = Math.round(sample.pixels[i] as number);
  });
  return {
    kind: 'image',
    count: samples.length,
    height: pre.height,
    width: pre.width,
    channels: pre.channels,
    pixels,
    labels: new Uint8Array(samples.length),
  };
}

function textStream(
  inputs: readonly NamedInput[],
  validate: ReturnType<typeof createInputValidator>,
): DataSplit {
  const samples = checked(inputs, validate);
  const records = samples.map((sample, index) => ({
    id: String(index),
    group: 'samples',
    label: 0,
    text: sample.kind === 'text' ? sample.text : '',
  }));
  return { kind: 'text', count: records.length, records, labels: new Uint8Array(records.length) };
}
