/**
 * The floor of a cut on onnxruntime-node: what one more session run costs when it does nothing but
 * take the boundary tensors in and give them back out. A segment boundary cannot cost less than
 * this (one extra `run`, the activation copied out of onnxruntime into JavaScript and back in), so
 * the benchmark measures it beside every chain, in the same rounds, and reports the chain's excess
 * over it.
 */
import { makeNode } from '../../core/onnx/graph-builder';
import type { GraphAnalysis } from '../../core/onnx/graph-analysis';
import { encodeOnnxModel } from '../../core/onnx/onnx-model';
import type { ModelSegment } from '../../core/onnx/slicing';
import { makeValueInfo } from '../../core/onnx/tensor-types';

/** A model that passes the tensors crossing a cut through `Identity` nodes. */
export function passThroughModel(analysis: GraphAnalysis, names: readonly string[]): Uint8Array {
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
