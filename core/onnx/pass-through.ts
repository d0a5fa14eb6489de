/**
 * The floors that costs are measured against on onnxruntime-node. A cut's: one more session run
 * that does nothing but take the boundary tensors in and give them back out. A segment boundary
 * cannot cost less than this (one extra `run`, the activation written out of onnxruntime once:
 * into a buffer of ours on the direct path, core/inference/direct-session.ts, or, through
 * onnxruntime-node's binding, copied into a new JavaScript array), so the slicing benchmark
 * measures it beside every chain, and the preparation never charges a cut less. A ramp's: a run that binds its inputs and computes nothing (`emptyRunModel`).
 */
import type { onnx } from 'onnx-proto';
import { makeNode } from './graph-builder';
import type { GraphAnalysis } from './graph-analysis';
import { encodeOnnxModel } from './onnx-model';
import type { ModelSegment } from './slicing';
import { makeValueInfo, type Dimension } from './tensor-types';

/** ONNX's element type for int64, what `Shape` gives. */
const INT64 = 7;

/**
 * A model whose inputs are the named tensors (typed as the analysis has them) and which applies
 * one operator to each, giving one output per tensor.
 */
function perTensorModel(
  analysis: GraphAnalysis,
  names: readonly string[],
  graphName: string,
  op: 'Identity' | 'Shape',
  suffix: string,
  output: (name: string, info: { elemType: number; shape: readonly Dimension[] }) => onnx.IValueInfoProto,
): Uint8Array {
  const infos = names.map((name) => {
    const info = analysis.tensors.get(name);
    if (!info) throw new Error(`the analysis has no type for boundary tensor ${name}`);
    return info;
  });
  return encodeOnnxModel({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'apparate-bench',
    graph: {
      name: graphName,
      node: names.map((name, i) => makeNode(op, [name], [`${name}:${suffix}`], `${op}${i}`)),
      input: names.map((name, i) => makeValueInfo(name, infos[i]!.elemType, infos[i]!.shape)),
      output: names.map((name, i) => output(`${name}:${suffix}`, infos[i]!)),
    },
  });
}

/** A model that passes the tensors crossing a cut through `Identity` nodes. */
export function passThroughModel(analysis: GraphAnalysis, names: readonly string[]): Uint8Array {
  return perTensorModel(analysis, names, 'cut_floor', 'Identity', 'out', (name, info) =>
    makeValueInfo(name, info.elemType, info.shape),
  );
}

/** One pass-through model per cut of a sliced model: the tensors each non-last segment hands on. */
export function floorModels(analysis: GraphAnalysis, segments: readonly ModelSegment[]): Uint8Array[] {
  return segments.slice(0, -1).map((segment) => passThroughModel(analysis, segment.outputs));
}

/**
 * A model that takes the tensors and reads nothing but their shapes: one session run with those
 * inputs bound and nothing computed or copied out. A ramp's session less this leaves the ramp's
 * operators, which is what it adds inside its segment (a pass-through would also copy the whole
 * activation out, which a ramp never does, and so would hide the ramp's own work).
 */
export function emptyRunModel(analysis: GraphAnalysis, names: readonly string[]): Uint8Array {
  return perTensorModel(analysis, names, 'empty_run', 'Shape', 'shape', (name, info) =>
    makeValueInfo(name, INT64, [info.shape.length]),
  );
}
