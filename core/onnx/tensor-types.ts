/**
 * Element types and shapes of tensors, in the one form the rest of `core/onnx` uses. ONNX spreads
 * this over TypeProto, TensorShapeProto and 64-bit integers that protobufjs decodes as `Long`;
 * onnxruntime names the same element types with strings. Converting once, here, keeps `Long` and
 * protobuf optionality out of the graph algorithms.
 */
import { onnx } from 'onnx-proto';

/** A dimension: a size, or the name of a symbolic one (the batch). */
export type Dimension = number | string;

/** What a segment boundary or a ramp needs to know about a tensor. */
export interface TensorInfo {
  /** ONNX `TensorProto.DataType` code, e.g. 1 for float32. */
  readonly elemType: number;
  /** Dimensions with the batch (and anything scaling with it) symbolic. */
  readonly shape: readonly Dimension[];
  /** The same dimensions for a batch of one, used to count multiply-accumulates. */
  readonly unitShape: readonly number[];
}

/** The element types onnxruntime-node reports, by ONNX code. */
const RUNTIME_NAMES: ReadonlyMap<number, string> = new Map([
  [1, 'float32'],
  [2, 'uint8'],
  [3, 'int8'],
  [4, 'uint16'],
  [5, 'int16'],
  [6, 'int32'],
  [7, 'int64'],
  [8, 'string'],
  [9, 'bool'],
  [10, 'float16'],
  [11, 'float64'],
  [12, 'uint32'],
  [13, 'uint64'],
  [16, 'bfloat16'],
]);

/** Element types a ramp can pool (they are cast to float32 first when not already). */
export const FLOAT_ELEM_TYPES: ReadonlySet<number> = new Set([1, 10, 11, 16]);

/**
 * Converts protobufjs 64-bit integers to numbers. They decode as `Long` objects when the `long`
 * package is installed and as numbers otherwise; the parameter is `unknown` because the generated
 * typings name `Long` without declaring it.
 */
export function toNumber(value: unknown): number {
  if (value === null || value === undefined) return 0;
  if (typeof value === 'number') return value;
  if (typeof value === 'object' && 'toNumber' in value && typeof value.toNumber === 'function') {
    return (value as { toNumber(): number }).toNumber();
  }
  return Number(value);
}

/** The onnxruntime name of an ONNX element type, for messages and for reading probe results. */
export function elemTypeName(elemType: number): string {
  return RUNTIME_NAMES.get(elemType) ?? `element type ${elemType}`;
}

/** The ONNX code of an onnxruntime element type name; undefined for names ONNX has no code for. */
export function elemTypeFromName(name: string): number | undefined {
  for (const [code, runtimeName] of RUNTIME_NAMES) if (runtimeName === name) return code;
  return undefined;
}

/**
 * The element type and dimensions a ValueInfo declares. `complete` is false when the type is not a
 * tensor or some dimension is neither a size nor a name, i.e. when it cannot stand in for a probe.
 */
export function declaredTensorInfo(
  info: onnx.IValueInfoProto,
): { elemType: number; dims: (number | string | undefined)[]; complete: boolean } | undefined {
  const tensorType = info.type?.tensorType;
  if (!tensorType || !tensorType.elemType) return undefined;
  const shape = tensorType.shape;
  if (!shape) return { elemType: tensorType.elemType, dims: [], complete: false };
  const dims = (shape.dim ?? []).map((dim) => {
    if (dim.dimParam) return dim.dimParam;
    if (dim.dimValue !== null && dim.dimValue !== undefined) return toNumber(dim.dimValue);
    return undefined;
  });
  return { elemType: tensorType.elemType, dims, complete: dims.every((dim) => dim !== undefined) };
}

/** A ValueInfo for a segment or ramp boundary. */
export function makeValueInfo(
  name: string,
  elemType: number,
  shape: readonly Dimension[],
): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: {
          dim: shape.map((dim) => (typeof dim === 'number' ? { dimValue: dim } : { dimParam: dim })),
        },
      },
    },
  };
}

/** The dimensions of an initializer or Constant tensor. */
export function tensorDims(tensor: onnx.ITensorProto): number[] {
  return (tensor.dims ?? []).map((dim) => toNumber(dim));
}

/** Number of elements of a shape of known sizes. */
export function elementCount(shape: readonly number[]): number {
  return shape.reduce((product, dim) => product * dim, 1);
}
