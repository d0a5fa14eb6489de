/**
 * Element types and shapes of intermediate tensors. Segment boundaries must declare the type and
 * shape of every tensor crossing them, and ramps need the activation's channels and spatial size.
 *
 * ONNX `value_info` gives them when an exporter wrote it, and is used when it is complete. Exporters
 * often write none (torch 1.13 does not), and a declared fixed first dimension on an intermediate
 * tensor may just be the size the exporter traced with, so whenever anything is missing or
 * doubtful the model is run instead: once with a batch of 1 and once with a batch of 2, zeros
 * everywhere, the wanted tensors added as extra graph outputs. Dimensions that differ between the
 * two runs scale with the batch and become symbolic (`batch`, or `k*batch`); the rest are fixed.
 */
import * as ort from 'onnxruntime-node';
import type { onnx } from 'onnx-proto';
import { InputError } from '../errors';
import { cloneOnnxModel, encodeOnnxModel, type OnnxModel } from './onnx-model';
import {
  declaredTensorInfo,
  elemTypeFromName,
  elemTypeName,
  elementCount,
  tensorDims,
  type Dimension,
  type TensorInfo,
} from './tensor-types';

/** Graph inputs and their declared element types and per-sample dimensions, as the probe feeds them. */
export interface ProbeInput {
  readonly name: string;
  readonly elemType: number;
  /** Dimensions after the batch. */
  readonly sampleDims: readonly number[];
}

type Feed = ort.Tensor;

/** onnxruntime's messages can span lines; user-facing errors stay one line. */
function firstLine(cause: unknown): string {
  const message = cause instanceof Error ? cause.message : String(cause);
  return message.split('\n')[0]?.trim() ?? '';
}

function zeros(elemType: number, size: number): ort.Tensor.DataType {
  switch (elemType) {
    case 1:
      return new Float32Array(size);
    case 2:
    case 9:
      return new Uint8Array(size);
    case 3:
      return new Int8Array(size);
    case 4:
    case 10:
      return new Uint16Array(size);
    case 5:
      return new Int16Array(size);
    case 6:
      return new Int32Array(size);
    case 7:
      return new BigInt64Array(size);
    case 11:
      return new Float64Array(size);
    case 12:
      return new Uint32Array(size);
    case 13:
      return new BigUint64Array(size);
    default:
      throw new InputError(
        `the model takes an input of ${elemTypeName(elemType)}; supported input types are numeric and bool tensors`,
      );
  }
}

function feedsFor(inputs: readonly ProbeInput[], batch: number): Record<string, Feed> {
  const feeds: Record<string, Feed> = {};
  for (const input of inputs) {
    const dims = [batch, ...input.sampleDims];
    const data = zeros(input.elemType, elementCount(dims));
    feeds[input.name] = new ort.Tensor(elemTypeName(input.elemType) as ort.Tensor.Type, data, dims);
  }
  return feeds;
}

interface Observed {
  readonly elemType: number;
  readonly dims: readonly number[];
}

async function runWithExtraOutputs(
  model: OnnxModel,
  names: readonly string[],
  inputs: readonly ProbeInput[],
): Promise<[Map<string, Observed>, Map<string, Observed>]> {
  const probe = cloneOnnxModel(model);
  const graph = probe.graph as onnx.IGraphProto;
  const existing = new Set((graph.output ?? []).map((output) => output.name));
  // An output without a type is allowed: onnxruntime infers it from the producing node.
  graph.output = [
    ...(graph.output ?? []),
    ...names.filter((name) => !existing.has(name)).map((name) => ({ name })),
  ];
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(encodeOnnxModel(probe), { graphOptimizationLevel: 'basic' });
  } catch (cause) {
    throw new InputError(`onnxruntime cannot load the model: ${firstLine(cause)}`, { cause });
  }
  try {
    const observe = async (batch: number) => {
      let results: ort.InferenceSession.ReturnType;
      try {
        results = await session.run(feedsFor(inputs, batch), [...names]);
      } catch (cause) {
        throw new InputError(
          `onnxruntime cannot run the model on a zero-filled batch of ${batch}: ${firstLine(cause)}`,
          { cause },
        );
      }
      const observed = new Map<string, Observed>();
      for (const name of names) {
        const tensor = results[name];
        const elemType = tensor ? elemTypeFromName(tensor.type) : undefined;
        if (!tensor || elemType === undefined) {
          throw new InputError(`onnxruntime returned no tensor ${name} for the model; it cannot be analysed`);
        }
        observed.set(name, { elemType, dims: [...tensor.dims] });
      }
      return observed;
    };
    return [await observe(1), await observe(2)];
  } finally {
    await session.release();
  }
}

function symbolicDims(one: readonly number[], two: readonly number[]): Dimension[] {
  return one.map((size, axis) => {
    const doubled = two[axis];
    if (doubled === size) return size;
    return size === 1 && doubled === 2 ? 'batch' : `${size}*batch`;
  });
}

/** Declared info that can be trusted without running the model. */
function trustedDeclaration(info: onnx.IValueInfoProto, onDataPath: boolean): TensorInfo | undefined {
  const declared = declaredTensorInfo(info);
  if (!declared?.complete || declared.dims.length === 0) return undefined;
  const dims = declared.dims as Dimension[];
  // A fixed first dimension on a data-path tensor is likely the exporter's traced batch size.
  if (onDataPath && typeof dims[0] === 'number') return undefined;
  return {
    elemType: declared.elemType,
    shape: dims,
    unitShape: dims.map((dim) => (typeof dim === 'number' ? dim : 1)),
  };
}

/**
 * Type and shape of each named tensor of the model. Initializers are read from their protos, graph
 * inputs from their declarations, the rest from complete `value_info` or by running the model.
 */
export async function resolveTensorInfo(
  model: OnnxModel,
  names: readonly string[],
  inputs: readonly ProbeInput[],
  isDataPath: (name: string) => boolean,
): Promise<Map<string, TensorInfo>> {
  const graph = model.graph as onnx.IGraphProto;
  const resolved = new Map<string, TensorInfo>();
  const initializers = new Map((graph.initializer ?? []).map((tensor) => [tensor.name ?? '', tensor]));
  const declared = new Map<string, onnx.IValueInfoProto>();
  for (const info of [...(graph.valueInfo ?? []), ...(graph.output ?? [])])
    declared.set(info.name ?? '', info);
  for (const input of inputs) {
    resolved.set(input.name, {
      elemType: input.elemType,
      shape: ['batch', ...input.sampleDims],
      unitShape: [1, ...input.sampleDims],
    });
  }
  const toProbe: string[] = [];
  for (const name of new Set(names)) {
    if (resolved.has(name)) continue;
    const initializer = initializers.get(name);
    if (initializer) {
      const dims = tensorDims(initializer);
      resolved.set(name, { elemType: initializer.dataType ?? 0, shape: dims, unitShape: dims });
      continue;
    }
    const info = declared.get(name);
    const trusted = info ? trustedDeclaration(info, isDataPath(name)) : undefined;
    if (trusted) resolved.set(name, trusted);
    else toProbe.push(name);
  }
  if (toProbe.length > 0) {
    const [one, two] = await runWithExtraOutputs(model, toProbe, inputs);
    for (const name of toProbe) {
      const a = one.get(name) as Observed;
      const b = two.get(name) as Observed;
      if (a.dims.length !== b.dims.length) {
        throw new InputError(
          `tensor ${name} changes rank with the batch size (${a.dims.length} vs ${b.dims.length}); such a model cannot be cut`,
        );
      }
      resolved.set(name, { elemType: a.elemType, shape: symbolicDims(a.dims, b.dims), unitShape: a.dims });
    }
  }
  return resolved;
}
