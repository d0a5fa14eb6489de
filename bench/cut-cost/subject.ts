/**
 * What the slicing benchmark measures: a model (a fixture, or any ONNX file), its analysis, and a
 * batch of inputs. Fixtures are fed real serving samples through the project's batch encoder; other
 * models get seeded random values of each input's declared type (a `*mask*` input is all ones,
 * other integer inputs are ids below 1000), which is enough for timings.
 */
import { basename } from 'node:path';
import { sampleAt } from '../../core/data/dataset';
import { InputError } from '../../core/errors';
import { createBatchEncoder, type PlainFeeds, type PlainTensor } from '../../core/inference/batch-encoding';
import { analyzeGraph, type GraphAnalysis } from '../../core/onnx/graph-analysis';
import { encodeOnnxModel, readOnnxModel, type OnnxModel } from '../../core/onnx/onnx-model';
import { toNumber } from '../../core/onnx/tensor-types';
import { SeededRandom } from '../../core/util/random';
import { listFixtureModels, loadModelData } from '../../core/zoo/fixtures';

export interface Subject {
  readonly name: string;
  readonly model: OnnxModel;
  /** The model as onnxruntime loads it (with `--input-shape` applied). */
  readonly bytes: Uint8Array;
  readonly analysis: GraphAnalysis;
  readonly feeds: PlainFeeds;
}

/** The fixture models, each with a batch of its real serving inputs. */
export async function fixtureSubjects(batchSize: number): Promise<Subject[]> {
  const subjects: Subject[] = [];
  for (const fixture of await listFixtureModels()) {
    const model = await readOnnxModel(fixture.onnxPath);
    const stream = await loadModelData(fixture, 'serving');
    const feeds = createBatchEncoder(fixture.spec).encode(
      Array.from({ length: batchSize }, (_, i) => sampleAt(stream, i)),
    );
    subjects.push({
      name: fixture.spec.name,
      model,
      bytes: encodeOnnxModel(model),
      analysis: await analyzeGraph(model),
      feeds,
    });
  }
  return subjects;
}

const DTYPES: ReadonlyMap<number, PlainTensor['dtype']> = new Map([
  [1, 'float32'],
  [6, 'int32'],
  [7, 'int64'],
  [9, 'bool'],
  [11, 'float64'],
]);

function randomTensor(name: string, elemType: number, dims: number[], random: SeededRandom): PlainTensor {
  const dtype = DTYPES.get(elemType);
  const size = dims.reduce((a, b) => a * b, 1);
  const mask = /mask/i.test(name);
  switch (dtype) {
    case 'float32':
      return { dtype, dims, data: Float32Array.from({ length: size }, () => random.normal()) };
    case 'float64':
      return { dtype, dims, data: Float64Array.from({ length: size }, () => random.normal()) };
    case 'int32':
      return {
        dtype,
        dims,
        data: Int32Array.from({ length: size }, () => (mask ? 1 : Math.floor(random.next() * 1000))),
      };
    case 'int64':
      return {
        dtype,
        dims,
        data: BigInt64Array.from({ length: size }, () => BigInt(mask ? 1 : Math.floor(random.next() * 1000))),
      };
    case 'bool':
      return { dtype, dims, data: Uint8Array.from({ length: size }, () => 1) };
    default:
      throw new InputError(
        `input ${name} has ONNX element type ${elemType}; the benchmark feeds float, int32, int64 and bool inputs`,
      );
  }
}

/**
 * Loads any ONNX classifier: fixes the symbolic axes after the batch from `inputShapes`, analyses
 * it, and makes a batch of seeded random inputs.
 */
export async function fileSubject(
  path: string,
  inputShapes: ReadonlyMap<string, readonly number[]>,
  batchSize: number,
): Promise<Subject> {
  const model = await readOnnxModel(path);
  const initializers = new Set((model.graph?.initializer ?? []).map((t) => t.name));
  const inputs = (model.graph?.input ?? []).filter((input) => !initializers.has(input.name));
  for (const name of inputShapes.keys()) {
    if (!inputs.some((input) => input.name === name)) {
      throw new InputError(
        `--input-shape names ${name}, which is no input of ${path}; its inputs are ${inputs.map((i) => i.name).join(', ')}`,
      );
    }
  }
  const random = new SeededRandom(14);
  const feeds: PlainFeeds = {};
  for (const input of inputs) {
    const name = input.name ?? '';
    const tensorType = input.type?.tensorType;
    const dims = tensorType?.shape?.dim ?? [];
    const given = inputShapes.get(name);
    if (given) {
      if (given.length !== dims.length - 1) {
        throw new InputError(
          `--input-shape ${name}: the input has ${dims.length - 1} axes after the batch, got ${given.length}`,
        );
      }
      given.forEach((size, axis) => {
        const dim = dims[axis + 1];
        if (dim) {
          dim.dimValue = size;
          dim.dimParam = null;
        }
      });
    }
    const sizes = dims.slice(1).map((dim, axis) => {
      if (dim.dimValue !== null && dim.dimValue !== undefined && toNumber(dim.dimValue) > 0)
        return toNumber(dim.dimValue);
      throw new InputError(
        `input ${name} has symbolic axis ${axis + 1} (${dim.dimParam ?? '?'}); fix it with --input-shape ${name}=AxB...`,
      );
    });
    feeds[name] = randomTensor(name, toNumber(tensorType?.elemType), [batchSize, ...sizes], random);
  }
  return {
    name: basename(path).replace(/\.onnx$/, ''),
    model,
    bytes: encodeOnnxModel(model),
    analysis: await analyzeGraph(model),
    feeds,
  };
}
