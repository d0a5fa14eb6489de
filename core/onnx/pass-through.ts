/**
 * The floor of a cut on onnxruntime-node: what one more session run costs when it does nothing but
 * take the boundary tensors in and give them back out. A segment boundary cannot cost less than
 * this (one extra `run`, the activation copied out of onnxruntime into JavaScript), so the
 * slicing benchmark measures it beside every chain, and the preparation never charges a cut less.
 */
import { makeNode } from './graph-builder';
import type { GraphAnalysis } from './graph-analysis';
import { encodeOnnxModel } from './onnx-model';
import type { ModelSegment } from './slicing';
import { makeValueInfo } from './tensor-types';

function tensorInfos(analysis: GraphAnalysis, names: readonly string[]) {
  return names.map((name) => {
    const info = analysis.tensors.get(name);
    if (!info) throw new Error(`the analysis has no type for boundary tensor ${name}`);
    return info;
  });
}

/** ONNX's element type for int64, what `Shape` gives. */
const INT64 = 7;

/** A model that passes the tensors crossing a cut through `Identity` nodes. */
export function passThroughModel(analysis: GraphAnalysis, names: readonly string[]): Uint8Array {
  const infos = tensorInfos(analysis, names);
  return encodeOnnxModel({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'apparate-bench',
    graph: {
      name: 'cut_floor',
      node: names.map((name, i) => makeNode('Identity', [name], [`${name}:out`], `pass${i}`)),
      input: names.map((name, i) => makeValueInfo(name, infos[i]!.elemType, infos[i]!.shape)),
      output: names.map((name, i) => makeValueInfo(`${name}:out`, infos[i]!.elemType, infos[i]!.shape)),
    },
  });
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
  const infos = tensorInfos(analysis, names);
  return encodeOnnxModel({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'apparate-bench',
    graph: {
      name: 'empty_run',
      node: names.map((name, i) => makeNode('Shape', [name], [`${name}:shape`], `shape${i}`)),
      input: names.map((name, i) => makeValueInfo(name, infos[i]!.elemType, infos[i]!.shape)),
      output: names.map((name, i) => makeValueInfo(`${name}:shape`, INT64, [infos[i]!.shape.length])),
    },
  });
}
