/**
 * The whole model with ramps and exit taps: each ramp's head reads its candidate's activation in
 * the model itself, and an `apparate.ExitTap` node takes the head's probabilities, so that one run
 * of one session hands every ramp's answer out as soon as it exists (core/inference/exit-tap.ts).
 *
 * Where a tap runs is onnxruntime's execution order. For the CPU provider that is a depth-first
 * walk back from the graph's leaf nodes, taken from the last node of the graph to the first, and
 * each node is placed as soon as everything it reads has been: a leaf added after the model's own
 * nodes is reached first, so the part of the model its activation needs runs, then its head, then
 * the tap, before the walk goes on. Taps are therefore added deepest first, so that the shallowest
 * is the last node of the graph and fires first. A graph optimisation that replaced the model's
 * last node with a node of its own would be placed before the taps; the serving chain checks
 * where the taps fired and serves the model cut in segments instead where they fired late.
 */
import type { onnx } from 'onnx-proto';
import { InputError } from '../errors';
import type { GraphAnalysis } from './graph-analysis';
import { decodeOnnxModel, encodeOnnxModel, type OnnxModel } from './onnx-model';
import { attachRamp, type RampAttachment } from './ramp-heads';
import { makeValueInfo } from './tensor-types';

/** The operator's domain and name, and the attribute that numbers a graph's taps. */
export const EXIT_TAP_DOMAIN = 'apparate';
export const EXIT_TAP_OP = 'ExitTap';
export const EXIT_TAP_ATTRIBUTE = 'tap';

/** The graph output each tap writes (one float, to keep the node; its value means nothing). */
export function exitTapOutput(tap: number): string {
  return `apparate:tap:${tap}`;
}

/**
 * Adds a tap on each named probabilities tensor, in the order given (tap i reads `probs[i]`,
 * shallow to deep), and takes those tensors off the graph's outputs (the taps hand them out).
 */
export function addExitTaps(modelBytes: Uint8Array, probs: readonly string[]): Uint8Array {
  const model = decodeOnnxModel(modelBytes, 'the model to tap');
  const graph = model.graph as onnx.IGraphProto;
  const produced = new Set((graph.node ?? []).flatMap((node) => node.output ?? []));
  const missing = probs.filter((name) => !produced.has(name));
  if (missing.length > 0)
    throw new InputError(`no node of the model produces ${missing.join(', ')}; tap a ramp's probabilities`);
  const taps: onnx.INodeProto[] = probs.map((name, tap) => ({
    opType: EXIT_TAP_OP,
    domain: EXIT_TAP_DOMAIN,
    name: exitTapOutput(tap),
    input: [name],
    output: [exitTapOutput(tap)],
    attribute: [{ name: EXIT_TAP_ATTRIBUTE, type: 2, i: tap }],
  }));
  graph.node = [...(graph.node ?? []), ...taps.reverse()];
  const tapped = new Set(probs);
  graph.output = [
    ...(graph.output ?? []).filter((output) => !tapped.has(output.name ?? '')),
    ...probs.map((_, tap) => makeValueInfo(exitTapOutput(tap), 1, [1])),
  ];
  if (!(model.opsetImport ?? []).some((opset) => opset.domain === EXIT_TAP_DOMAIN))
    model.opsetImport = [...(model.opsetImport ?? []), { domain: EXIT_TAP_DOMAIN, version: 1 }];
  return encodeOnnxModel(model);
}

/**
 * The whole model with each ramp attached where its activation is computed and tapped, taps
 * numbered in the order given (shallow to deep). Activations are declared from the analysis,
 * which `attachRamp` needs to shape a head.
 */
export function tappedModel(
  model: OnnxModel,
  analysis: GraphAnalysis,
  ramps: readonly RampAttachment[],
): Uint8Array {
  const declared = decodeOnnxModel(encodeOnnxModel(model), 'the model');
  const graph = declared.graph as onnx.IGraphProto;
  const names = new Set(
    [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.valueInfo ?? [])].map((info) => info.name),
  );
  for (const ramp of ramps) {
    if (names.has(ramp.activation)) continue;
    const info = analysis.tensors.get(ramp.activation);
    if (!info)
      throw new InputError(`the analysis has no shape for ${ramp.activation}; tap a candidate's activation`);
    graph.valueInfo = [...(graph.valueInfo ?? []), makeValueInfo(ramp.activation, info.elemType, info.shape)];
    names.add(ramp.activation);
  }
  let bytes = encodeOnnxModel(declared);
  for (const ramp of ramps) bytes = attachRamp(bytes, ramp);
  return addExitTaps(
    bytes,
    ramps.map((ramp) => ramp.outputName),
  );
}
