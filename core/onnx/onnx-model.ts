/**
 * Reading and writing ONNX models. Users hand us arbitrary files, so reading is where a wrong file
 * (a text file, a truncated download, a model saved without its graph) must turn into one clear
 * line saying what is wrong and what we accept, before anything downstream trips over a half-decoded
 * protobuf.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { onnx } from 'onnx-proto';
import { InputError } from '../errors';
import { toNumber } from './tensor-types';

/** A decoded ONNX model; every other module in `core/onnx` works on this. */
export type OnnxModel = onnx.ModelProto;

const ACCEPTED = 'give an .onnx file saved by an ONNX exporter (e.g. torch.onnx.export or onnx.save)';

function describeSource(source: string | Uint8Array): string {
  return typeof source === 'string' ? `file ${source}` : 'the given model bytes';
}

/**
 * Decodes model bytes, refusing anything that is not a usable ONNX model. `where` names the source
 * in messages ("file x.onnx"). Decoding is the only check protobuf offers, so the structural checks
 * after it (IR version, opset, graph, nodes, embedded weights) are what catch files that happen to
 * decode but are not models.
 */
export function decodeOnnxModel(bytes: Uint8Array, where = 'the given model bytes'): OnnxModel {
  if (bytes.length === 0) throw new InputError(`${where} is empty, not an ONNX model; ${ACCEPTED}`);
  let model: OnnxModel;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (cause) {
    const message = (cause as Error).message;
    const truncated = cause instanceof RangeError || /index out of range/.test(message);
    const reason = truncated
      ? `it ends in the middle of a record (${message}), so the file is truncated or corrupt`
      : `it is not an ONNX protobuf (${message})`;
    throw new InputError(`${where} cannot be read as an ONNX model: ${reason}; ${ACCEPTED}`, { cause });
  }
  const irVersion = toNumber(model.irVersion);
  if (!(irVersion > 0) || model.opsetImport.length === 0) {
    throw new InputError(
      `${where} is not an ONNX model: it has no IR version or no operator-set import; ${ACCEPTED}`,
    );
  }
  const graph = model.graph;
  if (!graph) throw new InputError(`${where} is an ONNX model without a graph; ${ACCEPTED} with its graph`);
  if (!graph.node || graph.node.length === 0) {
    throw new InputError(
      `${where} has an ONNX graph without nodes; a model to serve needs at least one node`,
    );
  }
  const external = (graph.initializer ?? []).find(
    (tensor) => tensor.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL,
  );
  if (external) {
    throw new InputError(
      `${where} keeps tensor ${external.name ?? '?'} in an external data file; save the model with all weights inside the .onnx file`,
    );
  }
  return model;
}

/** Reads a model from a path or from bytes already in memory (an upload, an S3 object). */
export async function readOnnxModel(source: string | Uint8Array): Promise<OnnxModel> {
  if (typeof source !== 'string') return decodeOnnxModel(source, describeSource(source));
  let bytes: Uint8Array;
  try {
    bytes = await readFile(source);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? String(cause)})`;
    throw new InputError(`model file ${source} ${reason}; ${ACCEPTED}`, { cause });
  }
  return decodeOnnxModel(bytes, describeSource(source));
}

/** Serialises a model; the bytes load in onnxruntime directly, without touching the disk. */
export function encodeOnnxModel(model: onnx.IModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/** Writes a model to a file (segments and ramped models end up in bundles this way). */
export async function writeOnnxModel(model: onnx.IModelProto, path: string): Promise<void> {
  await writeFile(path, encodeOnnxModel(model));
}

/**
 * A deep copy, for builders that add nodes or outputs: the analysed model stays untouched, so one
 * analysis can serve many derived models.
 */
export function cloneOnnxModel(model: onnx.IModelProto): OnnxModel {
  return onnx.ModelProto.decode(encodeOnnxModel(model));
}
