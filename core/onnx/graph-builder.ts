/**
 * Small constructors for the nodes and constant tensors that ramps, probes and segments add to a
 * graph. They produce plain protobuf-shaped objects, so built graphs encode directly, and they keep
 * attribute typing (which protobuf requires and which is easy to get wrong by hand) in one place.
 */
import { onnx } from 'onnx-proto';

const AttributeType = onnx.AttributeProto.AttributeType;

/** An attribute value: an int, a float, a list of ints, or a tensor. */
export type AttributeValue = number | readonly number[] | { readonly float: number } | onnx.ITensorProto;

function makeAttribute(name: string, value: AttributeValue): onnx.IAttributeProto {
  if (typeof value === 'number') return { name, type: AttributeType.INT, i: value };
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: [...(value as number[])] };
  if ('float' in value) return { name, type: AttributeType.FLOAT, f: value.float };
  return { name, type: AttributeType.TENSOR, t: value as onnx.ITensorProto };
}

/** A node of the default ONNX domain. Integer attributes are ints; wrap floats as `{ float }`. */
export function makeNode(
  opType: string,
  inputs: readonly string[],
  outputs: readonly string[],
  name: string,
  attributes: Readonly<Record<string, AttributeValue>> = {},
): onnx.INodeProto {
  return {
    opType,
    name,
    input: [...inputs],
    output: [...outputs],
    attribute: Object.entries(attributes).map(([key, value]) => makeAttribute(key, value)),
  };
}

function littleEndianBytes(view: ArrayBufferView): Uint8Array {
  // Copy so the tensor owns exactly its bytes (a view may sit inside a larger buffer).
  return new Uint8Array(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));
}

/** A float32 initializer stored as raw little-endian bytes (what exporters write for weights). */
export function floatTensor(name: string, dims: readonly number[], values: Float32Array): onnx.ITensorProto {
  return {
    name,
    dims: [...dims],
    dataType: onnx.TensorProto.DataType.FLOAT,
    rawData: littleEndianBytes(values),
  };
}

/** An int64 initializer, e.g. a Reshape target shape or a Gather index (`dims` [] for a scalar). */
export function int64Tensor(
  name: string,
  dims: readonly number[],
  values: readonly number[],
): onnx.ITensorProto {
  return {
    name,
    dims: [...dims],
    dataType: onnx.TensorProto.DataType.INT64,
    rawData: littleEndianBytes(BigInt64Array.from(values, (value) => BigInt(value))),
  };
}
