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

/** The operators' domain. */
export const EXIT_TAP_DOMAIN = 'apparate';
/** Taps one model may carry: each index is an operator of its own (core/inference/exit-tap.ts). */
export const MAX_EXIT_TAPS = 64;

/** The operator of tap `tap` (`ExitTap0`, `ExitTap1`, …). */
export function exitTapOp(tap: number): string {
  return `ExitTap${tap}`;
}

/**
 * Adds a tap on each named probabilities tensor, in the order given (tap i reads `probs[i]`,
 * shallow to deep). The tensors stay graph outputs: the listener reads them from the buffers the
 * run writes them into. A tap has no output; onnxruntime keeps a node that writes nothing.
 */
export function addExitTaps(modelBytes: Uint8Array, probs: readonly string[]): Uint8Array {
  const model = decodeOnnxModel(modelBytes, 'the model to tap');
  const graph = model.graph as onnx.IGraphProto;
  const produced = new Set((graph.node ?? []).flatMap((node) => node.output ?? []));
  if (probs.length > MAX_EXIT_TAPS)
    throw new InputError(`${probs.length} taps asked for; one model carries at most ${MAX_EXIT_TAPS}`);
  const missing = probs.filter((name) => !produced.has(name));
  if (missing.length > 0)
    throw new InputError(`no node of the model produces ${missing.join(', ')}; tap a ramp's probabilities`);
  const outputs = new Set((graph.output ?? []).map((output) => output.name));
  const hidden = probs.filter((name) => !outputs.has(name));
  if (hidden.length > 0)
    throw new InputError(`${hidden.join(', ')} must be graph outputs, which the taps' listener reads`);
  const taps: onnx.INodeProto[] = probs.map((name, tap) => ({
    opType: exitTapOp(tap),
    domain: EXIT_TAP_DOMAIN,
    name: `apparate:tap:${tap}`,
    input: [name],
    output: [],
  }));
  graph.node = [...(graph.node ?? []), ...taps.reverse()];
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

/**
 * The model without its taps: the ramps' heads stay, their probabilities graph outputs. What
 * onnxruntime makes of the model around the taps is read from this one, since a session with tap
 * nodes opens only where the taps' operators are registered, and a tap reads a head's output
 * without changing the graph before it.
 */
export function withoutExitTaps(modelBytes: Uint8Array): Uint8Array {
  const model = decodeOnnxModel(modelBytes, 'the tapped model');
  const graph = model.graph as onnx.IGraphProto;
  graph.node = (graph.node ?? []).filter((node) => node.domain !== EXIT_TAP_DOMAIN);
  model.opsetImport = (model.opsetImport ?? []).filter((opset) => opset.domain !== EXIT_TAP_DOMAIN);
  return encodeOnnxModel(model);
}
