/**
 * Cutting a model into segments at chosen feasible positions. The worker runs a batch segment by
 * segment so that ramp outputs come back between segments; each segment is therefore a complete
 * ONNX model of its own that onnxruntime loads by itself, taking exactly what it needs (graph inputs
 * it reads, the previous cut's activation, side tensors) and returning what later segments need.
 * Weights and constant subgraphs are copied into every segment that reads them, so no segment
 * depends on another's initializers. Running the segments in order gives the original outputs.
 */
import type { onnx } from 'onnx-proto';
import { ArtifactError, InputError } from '../errors';
import type { FeasiblePosition, GraphAnalysis } from './graph-analysis';
import { anchorActivation, wantsAnchor } from './layout-anchor';
import { encodeOnnxModel, type OnnxModel } from './onnx-model';
import { isStaticNode } from './tensor-roles';
import { makeValueInfo, toNumber, type TensorInfo } from './tensor-types';
import { nodeInputs, nodeOutputs } from './topology';

/** Where to cut: candidate ids from the analysis, or any feasible positions. */
export type SliceCuts =
  { readonly candidateIds: readonly string[] } | { readonly positions: readonly number[] };

/** How to cut, beyond where. */
export interface SliceOptions {
  /**
   * Route a segment's incoming activation through a layout anchor where that lets onnxruntime's
   * CPU optimizer fuse the first block as in the whole model (see layout-anchor.ts). Default on;
   * off only to measure what it saves.
   */
  readonly layoutAnchors?: boolean;
}

/** One segment: a standalone model and its interface. */
export interface ModelSegment {
  readonly index: number;
  /** The segment as an ONNX model file's bytes. */
  readonly bytes: Uint8Array;
  /** Input names, in declaration order: graph inputs it reads, then tensors from the previous cut. */
  readonly inputs: readonly string[];
  /** Output names: the cut's activation first, then side tensors; the original outputs for the last segment. */
  readonly outputs: readonly string[];
  /** The cut this segment starts after (absent for the first segment). */
  readonly startCut?: FeasiblePosition;
  /** The cut this segment ends at (absent for the last segment). */
  readonly endCut?: FeasiblePosition;
}

function resolveCuts(analysis: GraphAnalysis, cuts: SliceCuts): FeasiblePosition[] {
  const feasible = new Map(analysis.feasiblePositions.map((cut) => [cut.position, cut]));
  let positions: number[];
  if ('candidateIds' in cuts) {
    const byId = new Map(analysis.candidates.map((candidate) => [candidate.id, candidate.position]));
    positions = cuts.candidateIds.map((id) => {
      const position = byId.get(id);
      if (position === undefined) {
        throw new InputError(
          `unknown candidate ${id}; this model's candidates are ${analysis.candidates.map((c) => c.id).join(', ')}`,
        );
      }
      return position;
    });
  } else {
    positions = [...cuts.positions];
    for (const position of positions) {
      if (!feasible.has(position)) {
        const listed = analysis.feasiblePositions.map((cut) => cut.position);
        throw new InputError(
          `position ${position} is not a feasible cut of this model; feasible positions are ${listed.slice(0, 40).join(', ')}${listed.length > 40 ? ', ...' : ''}`,
        );
      }
    }
  }
  const sorted = [...positions].sort((a, b) => a - b);
  const duplicate = sorted.find((position, index) => index > 0 && sorted[index - 1] === position);
  if (duplicate !== undefined)
    throw new InputError(`cut position ${duplicate} is given twice; give each cut once`);
  return sorted.map((position) => feasible.get(position) as FeasiblePosition);
}

function carriedAt(cut: FeasiblePosition): string[] {
  return [cut.activation, ...cut.sideTensors];
}

interface SliceContext {
  readonly model: OnnxModel;
  readonly analysis: GraphAnalysis;
  readonly graph: onnx.IGraphProto;
  readonly staticIndex: ReadonlyMap<string, number>;
  readonly initializers: ReadonlyMap<string, onnx.ITensorProto>;
  readonly sparseInitializers: ReadonlyMap<string, onnx.ISparseTensorProto>;
  readonly declaredInputs: ReadonlyMap<string, onnx.IValueInfoProto>;
  readonly layoutAnchors: boolean;
}

/** Adds the static nodes (Constants, aliases of weights) that compute the given names, transitively. */
function staticClosure(context: SliceContext, reads: Iterable<string>, into: Set<number>): void {
  const pending = [...reads];
  for (let name = pending.pop(); name !== undefined; name = pending.pop()) {
    const index = context.staticIndex.get(name);
    if (index === undefined || into.has(index)) continue;
    into.add(index);
    pending.push(...nodeInputs(context.analysis.nodes[index] as onnx.INodeProto));
  }
}

function boundaryInfo(context: SliceContext, name: string): onnx.IValueInfoProto {
  const info: TensorInfo | undefined = context.analysis.tensors.get(name);
  if (!info)
    throw new ArtifactError(`the analysis has no type for tensor ${name}; analyse the same model you slice`);
  return makeValueInfo(name, info.elemType, info.shape);
}

function buildSegment(
  context: SliceContext,
  index: number,
  startCut: FeasiblePosition | undefined,
  endCut: FeasiblePosition | undefined,
): ModelSegment {
  const { analysis, graph } = context;
  const from = startCut ? startCut.position + 1 : 0;
  const to = endCut ? endCut.position : analysis.nodes.length - 1;
  const chosen = new Set<number>();
  for (let at = from; at <= to; at++) {
    if (!isStaticNode(analysis.nodes[at] as onnx.INodeProto, analysis.roles)) chosen.add(at);
  }
  const outputs = endCut ? carriedAt(endCut) : [...analysis.outputs];
  const reads = new Set<string>(endCut ? [] : outputs);
  for (const at of chosen)
    for (const name of nodeInputs(analysis.nodes[at] as onnx.INodeProto)) reads.add(name);
  staticClosure(context, reads, chosen);
  const order = [...chosen].sort((a, b) => a - b);
  let nodes = order.map((at) => analysis.nodes[at] as onnx.INodeProto);
  for (const node of nodes) for (const name of nodeInputs(node)) reads.add(name);
  if (startCut && context.layoutAnchors) {
    const activation = startCut.activation;
    if (wantsAnchor(activation, analysis.tensors.get(activation), nodes))
      nodes = anchorActivation(activation, nodes);
  }

  const produced = new Set(nodes.flatMap((node) => nodeOutputs(node)));
  const carriedIn = startCut ? carriedAt(startCut) : [];
  const realInputs = [analysis.primaryInput, ...analysis.sideInputs];
  const inputs = [...realInputs.filter((name) => reads.has(name)), ...carriedIn];
  const available = new Set([
    ...inputs,
    ...produced,
    ...context.initializers.keys(),
    ...context.sparseInitializers.keys(),
  ]);
  for (const name of reads) {
    if (!available.has(name)) {
      throw new ArtifactError(
        `segment ${index} reads ${name}, which no earlier cut carries; the analysis does not match the model`,
      );
    }
  }
  const usedInitializers = [...context.initializers.values()].filter((tensor) =>
    reads.has(tensor.name ?? ''),
  );
  const usedSparse = [...context.sparseInitializers.values()].filter((tensor) =>
    reads.has(tensor.values?.name ?? ''),
  );
  const inputInfos = inputs.map((name) => context.declaredInputs.get(name) ?? boundaryInfo(context, name));
  if (toNumber(context.model.irVersion) < 4) {
    // Before IR 4, every initializer also had to be declared as a graph input.
    for (const tensor of usedInitializers) {
      const declared = context.declaredInputs.get(tensor.name ?? '');
      if (declared) inputInfos.push(declared);
    }
  }
  const declaredOutputs = new Map((graph.output ?? []).map((info) => [info.name ?? '', info]));
  const outputInfos = outputs.map((name) =>
    endCut ? boundaryInfo(context, name) : (declaredOutputs.get(name) as onnx.IValueInfoProto),
  );
  const segment: onnx.IModelProto = {
    irVersion: toNumber(context.model.irVersion),
    opsetImport: context.model.opsetImport,
    producerName: 'apparate',
    domain: context.model.domain,
    modelVersion: toNumber(context.model.modelVersion),
    functions: context.model.functions,
    graph: {
      name: `${graph.name || 'model'}_segment${index}`,
      node: nodes,
      initializer: usedInitializers,
      sparseInitializer: usedSparse,
      input: inputInfos,
      output: outputInfos,
    },
  };
  return {
    index,
    bytes: encodeOnnxModel(segment),
    inputs,
    outputs,
    ...(startCut ? { startCut } : {}),
    ...(endCut ? { endCut } : {}),
  };
}

/**
 * Cuts the model at the given positions (in any order; each at most once) and returns the segments
 * in running order: one more than the number of cuts. `analysis` must come from `analyzeGraph` on
 * this same model.
 */
export function sliceModel(
  model: OnnxModel,
  analysis: GraphAnalysis,
  cuts: SliceCuts,
  options: SliceOptions = {},
): ModelSegment[] {
  const graph = model.graph;
  if (!graph || (graph.node ?? []).length !== analysis.nodes.length) {
    throw new ArtifactError('the analysis was made for a different model; analyse the model you slice');
  }
  const staticIndex = new Map<string, number>();
  analysis.nodes.forEach((node, index) => {
    if (isStaticNode(node, analysis.roles))
      for (const name of nodeOutputs(node)) staticIndex.set(name, index);
  });
  const context: SliceContext = {
    model,
    analysis,
    graph,
    staticIndex,
    initializers: new Map((graph.initializer ?? []).map((tensor) => [tensor.name ?? '', tensor])),
    sparseInitializers: new Map(
      (graph.sparseInitializer ?? []).map((tensor) => [tensor.values?.name ?? '', tensor]),
    ),
    declaredInputs: new Map((graph.input ?? []).map((info) => [info.name ?? '', info])),
    layoutAnchors: options.layoutAnchors ?? true,
  };
  const resolved = resolveCuts(analysis, cuts);
  const bounds: (FeasiblePosition | undefined)[] = [undefined, ...resolved, undefined];
  return bounds.slice(1).map((endCut, index) => buildSegment(context, index, bounds[index], endCut));
}
