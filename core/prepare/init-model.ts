/**
 * `apparate init`: a model trained elsewhere gets its `model.json`. The ONNX file is analysed (so
 * a model Apparate cannot cut is refused now, with what the analysis found), its inputs are read
 * from the graph with any symbolic sizes pinned, the preprocessing the user names (an image size
 * and normalisation, or a Hugging Face tokenizer.json) is checked against those inputs, and the
 * model is run once on a synthetic input to learn how many classes it answers. The directory is
 * written atomically and read back with the same loader every other command uses.
 */
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { writeDirectoryAtomically } from '../bundle/atomic-dir';
import { describeIssues, InputError } from '../errors';
import { createBatchEncoder, type RawSample } from '../inference/batch-encoding';
import { openSession } from '../inference/onnx-session';
import { loadModel, sha256File, type LoadedModel } from '../model/load-model';
import { modelSpecSchema, type ModelSpec, type TensorSpec } from '../model/model-spec';
import { analyzeGraph } from '../onnx/graph-analysis';
import type { InputShapes } from '../onnx/input-shapes';
import { readOnnxModel } from '../onnx/onnx-model';
import { elemTypeName } from '../onnx/tensor-types';

/** What the user says about a model's input: an image, or text through a tokenizer.json. */
export type InitInput =
  | {
      readonly kind: 'image';
      readonly height: number;
      readonly width: number;
      readonly channels: number;
      /** Multiplier of each 0-255 value before mean and std. @default 1/255 */
      readonly scale?: number;
      readonly mean?: readonly number[];
      readonly std?: readonly number[];
      readonly channelOrder?: 'RGB' | 'BGR';
      readonly resize?: 'stretch' | 'exact';
    }
  | { readonly kind: 'text'; readonly tokenizerPath: string };

export interface InitOptions {
  readonly onnxPath: string;
  readonly out: string;
  readonly input: InitInput;
  /** Class names, one per output; default "0", "1", ... */
  readonly labels?: readonly string[];
  /** The model's name; default the output directory's name. */
  readonly name?: string;
  readonly inputShapes?: InputShapes;
}

const TOKENIZER_FILE = 'tokenizer.json';
const MODEL_FILE = 'model.onnx';

/** Writes `out/` with model.json, the ONNX file and the tokenizer.json; returns the loaded model. */
export async function initModel(options: InitOptions): Promise<LoadedModel> {
  const name =
    options.name ??
    basename(options.out)
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+/, '');
  const onnx = await readOnnxModel(options.onnxPath);
  // Refuses, with what it found, a model without a batch axis, with unpinned sizes or no candidates.
  const analysis = await analyzeGraph(onnx, options.inputShapes ? { inputShapes: options.inputShapes } : {});
  const inputs: TensorSpec[] = [analysis.primaryInput, ...analysis.sideInputs].map((input) => {
    const info = analysis.tensors.get(input);
    const dtype = info === undefined ? 'unknown' : elemTypeName(info.elemType);
    if (info === undefined || (dtype !== 'float32' && dtype !== 'int64')) {
      throw new InputError(
        `model input ${input} is ${dtype}; Apparate feeds float32 images or int64 token ids`,
      );
    }
    return { name: input, dtype, shape: ['batch', ...info.shape.slice(1)] };
  });
  const preprocessing = preprocessingFor(options.input, inputs);
  const draft = {
    name,
    task: options.input.kind === 'image' ? 'image-classification' : 'text-classification',
    file: MODEL_FILE,
    sha256: await sha256File(options.onnxPath),
    inputs,
    preprocessing,
    provenance: { source: basename(options.onnxPath), createdBy: 'apparate init' },
  };
  const classes = await classCount(options, draft, analysis.outputs[0] as string);
  const labels = options.labels ?? Array.from({ length: classes }, (_, i) => String(i));
  if (labels.length !== classes) {
    throw new InputError(
      `the labels file names ${labels.length} classes, but the model's output ${analysis.outputs[0]} has ${classes}; give one label a line, in the output's order`,
    );
  }
  const spec = parseSpec({
    ...draft,
    classes: labels,
    outputs: [{ name: analysis.outputs[0], dtype: 'float32', shape: ['batch', classes] }],
  });
  await writeDirectoryAtomically(options.out, async (dir) => {
    await copyFile(options.onnxPath, join(dir, MODEL_FILE));
    if (options.input.kind === 'text') await copyFile(options.input.tokenizerPath, join(dir, TOKENIZER_FILE));
    await writeFile(join(dir, 'model.json'), `${JSON.stringify(spec, null, 2)}\n`);
  });
  return loadModel(options.out);
}

function parseSpec(value: unknown): ModelSpec {
  const parsed = modelSpecSchema.safeParse(value);
  if (!parsed.success)
    throw new InputError(`the model description would be invalid: ${describeIssues(parsed.error.issues)}`);
  return parsed.data;
}

function preprocessingFor(input: InitInput, inputs: readonly TensorSpec[]): ModelSpec['preprocessing'] {
  const shown = inputs.map((i) => `${i.name} ${i.dtype} [${i.shape.join(', ')}]`).join(', ');
  if (input.kind === 'text') {
    const ids = inputs.find((i) => !/mask|token_type|segment/i.test(i.name));
    if (ids === undefined || ids.dtype !== 'int64' || ids.shape.length !== 2) {
      throw new InputError(
        `--tokenizer is for text models, which take int64 token ids [batch, length]; this model takes ${shown}`,
      );
    }
    return { type: 'text', tokenizer: { type: 'huggingface', file: TOKENIZER_FILE } };
  }
  const [image, ...others] = inputs;
  const { height, width, channels } = input;
  const dims = image?.shape.slice(1).join(',');
  const layout =
    dims === `${channels},${height},${width}`
      ? 'NCHW'
      : dims === `${height},${width},${channels}`
        ? 'NHWC'
        : undefined;
  if (image === undefined || others.length > 0 || image.dtype !== 'float32' || layout === undefined) {
    throw new InputError(
      `--image ${height},${width},${channels} describes one float32 input [batch, ${channels}, ${height}, ${width}] (NCHW) or [batch, ${height}, ${width}, ${channels}] (NHWC); this model takes ${shown}` +
        (image !== undefined && image.shape.some((d) => typeof d === 'string' && d !== 'batch')
          ? '; pin its open sizes with --input-shape'
          : ''),
    );
  }
  const perChannel = (values: readonly number[] | undefined, flag: string): number[] | undefined => {
    if (values === undefined) return undefined;
    if (values.length === 1) return Array.from({ length: channels }, () => values[0] as number);
    if (values.length !== channels) {
      throw new InputError(
        `--${flag} needs one value or one per channel (${channels}); got ${values.length}`,
      );
    }
    return [...values];
  };
  const mean = perChannel(input.mean, 'mean');
  const std = perChannel(input.std, 'std');
  return {
    type: 'image',
    height,
    width,
    channels: channels as 1 | 3,
    scale: input.scale ?? 1 / 255,
    ...(mean ? { mean } : {}),
    ...(std ? { std } : {}),
    layout,
    ...(input.channelOrder ? { channelOrder: input.channelOrder } : {}),
    ...(input.resize ? { resize: input.resize } : {}),
  };
}

/** Runs the model once on a synthetic input (grey image, short text) and counts its output's classes. */
async function classCount(options: InitOptions, draft: object, output: string): Promise<number> {
  // Two placeholder classes make the draft a valid spec; the real ones come from the output.
  const probe = parseSpec({
    ...draft,
    classes: ['a', 'b'],
    outputs: [{ name: output, dtype: 'float32', shape: ['batch', 2] }],
  });
  const withContent =
    probe.preprocessing.type === 'text' && options.input.kind === 'text'
      ? await tokenizerContent(probe, options.input.tokenizerPath)
      : probe;
  const pre = withContent.preprocessing;
  const sample: RawSample =
    pre.type === 'image'
      ? { kind: 'image', pixels: new Array<number>(pre.channels * pre.height * pre.width).fill(128) }
      : { kind: 'text', text: 'hello world' };
  const feeds = createBatchEncoder(withContent).encode([sample]);
  const session = await openSession(options.onnxPath);
  try {
    const result = (await session.run(feeds))[output];
    const dims = result?.dims ?? [];
    const classes = dims.length === 2 && dims[0] === 1 ? (dims[1] as number) : 0;
    if (classes < 2) {
      throw new InputError(
        `the model's output ${output} is [${dims.join(', ')}] for one input; a classifier answers [batch, classes] with at least 2 classes`,
      );
    }
    return classes;
  } finally {
    await session.release();
  }
}

async function tokenizerContent(spec: ModelSpec, path: string): Promise<ModelSpec> {
  let content: unknown;
  try {
    content = JSON.parse(await readFile(path, 'utf8'));
  } catch (cause) {
    throw new InputError(`--tokenizer ${path} cannot be read as JSON: ${(cause as Error).message}`, {
      cause,
    });
  }
  if (spec.preprocessing.type !== 'text' || typeof content !== 'object' || content === null) {
    throw new InputError(`--tokenizer ${path} must hold a Hugging Face tokenizer.json object`);
  }
  return {
    ...spec,
    preprocessing: {
      type: 'text',
      tokenizer: { type: 'huggingface', file: TOKENIZER_FILE, content: content as Record<string, unknown> },
    },
  };
}
