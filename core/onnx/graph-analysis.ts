/**
 * Analysing a user's ONNX classifier: where it may be cut, and which of those cuts are offered as
 * ramp candidates. Everything downstream (slicing, feature capture, ramps, placement) reads this
 * one record, so the rules that make a model acceptable (a symbolic batch axis, at least one
 * candidate) are enforced here, once, with messages that say what to change.
 */
import type { onnx } from 'onnx-proto';
import { InputError } from '../errors';
import { selectCandidatePositions, type CandidateStrategy } from './candidate-selection';
import { costTensors, cumulativeCostFractions } from './cost-model';
import { findFeasiblePositions, type CutPosition } from './cut-positions';
import { pinSampleDims, type InputShapes } from './input-shapes';
import type { OnnxModel } from './onnx-model';
import { resolveTensorInfo, type ProbeInput } from './shape-probe';
import { classifyTensors, isStaticNode, type TensorRole } from './tensor-roles';
import {
  FLOAT_ELEM_TYPES,
  declaredTensorInfo,
  elemTypeName,
  type Dimension,
  type TensorInfo,
} from './tensor-types';
import { topologicalOrder } from './topology';

/** A feasible cut with the share of the model's work done before it. */
export interface FeasiblePosition extends CutPosition {
  /** Fraction of the model's multiply-accumulates (or nodes) executed before the cut, in (0, 1). */
  readonly costFraction: number;
}

/** A position offered for a ramp. */
export interface Candidate extends FeasiblePosition {
  /** `c0`, `c1`, ... in order of position. */
  readonly id: string;
  /** Name of the activation tensor the ramp reads. */
  readonly tensor: string;
  /** Activation shape with the batch symbolic: [batch, C, H, W] or [batch, T, H]. */
  readonly shape: readonly Dimension[];
  readonly kind: 'image' | 'sequence';
  /** Activation element type as onnxruntime names it (`float32` for the fixture models). */
  readonly dtype: string;
}

/** The attention-mask input a masked-mean ramp pools with. */
export interface AttentionMaskInput {
  readonly name: string;
  /** ONNX element type code of the mask input. */
  readonly elemType: number;
  /** Sequence length (the mask's second dimension). */
  readonly length: number;
}

/**
 * The analysis of one model. Slicing and the ramp builders take it together with the model it was
 * made from, so positions, tensor names and shapes are computed once and agree everywhere.
 */
export interface GraphAnalysis {
  /** The graph's nodes in the topological order positions index into. */
  readonly nodes: readonly onnx.INodeProto[];
  /** First graph input that is not an initializer: the data the model classifies. */
  readonly primaryInput: string;
  /** The other graph inputs (an attention mask, token types). */
  readonly sideInputs: readonly string[];
  /** Graph outputs; the first is the classifier's output, the rest are carried to the last segment. */
  readonly outputs: readonly string[];
  /** A rank-2 side input named like a mask, when the model has one. */
  readonly attentionMask?: AttentionMaskInput;
  /** What each tensor depends on (static tensors are copied into segments, never cut). */
  readonly roles: ReadonlyMap<string, TensorRole>;
  /** Every valid cut, in order. */
  readonly feasiblePositions: readonly FeasiblePosition[];
  /** The cuts offered for ramps, in order (a subset of the feasible ones). */
  readonly candidates: readonly Candidate[];
  /** How candidates were chosen: from numbered module names, or from merge points. */
  readonly candidateStrategy: CandidateStrategy;
  /** Type and shape of every graph input and every tensor crossing a feasible position. */
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  /** Multiply-accumulates of the whole model for one sample (0 when it has no Conv/MatMul/Gemm). */
  readonly totalMacs: number;
}

function realInputs(
  graph: onnx.IGraphProto,
  staticNames: ReadonlySet<string>,
  inputShapes: InputShapes,
): ProbeInput[] {
  const inputs = (graph.input ?? []).filter((info) => !staticNames.has(info.name ?? ''));
  if (inputs.length === 0) throw new InputError('the model has no graph input; a classifier needs one');
  const names = inputs.map((info) => info.name ?? '');
  const unknown = [...inputShapes.keys()].filter((name) => !names.includes(name));
  if (unknown.length > 0) {
    throw new InputError(
      `input shape given for ${unknown.join(', ')}, which the model does not take; its inputs are ${names.join(', ')}`,
    );
  }
  return inputs.map((info) => {
    const name = info.name ?? '';
    const declared = declaredTensorInfo(info);
    if (!declared) {
      throw new InputError(
        `model input ${name} is not a tensor with a declared element type; only tensor inputs are supported`,
      );
    }
    const [first, ...rest] = declared.dims;
    if (declared.dims.length === 0) {
      throw new InputError(
        `model has no batch dimension: input ${name} is a scalar; export it with a dynamic batch axis`,
      );
    }
    if (typeof first === 'number') {
      throw new InputError(
        `model has no batch dimension: input ${name} has fixed first dimension ${first}; export it with a dynamic batch axis`,
      );
    }
    return {
      name,
      elemType: declared.elemType,
      sampleDims: pinSampleDims(name, rest, inputShapes.get(name)),
    };
  });
}

function findAttentionMask(inputs: readonly ProbeInput[]): AttentionMaskInput | undefined {
  const mask = inputs.slice(1).find((input) => /mask/i.test(input.name) && input.sampleDims.length === 1);
  return mask
    ? { name: mask.name, elemType: mask.elemType, length: mask.sampleDims[0] as number }
    : undefined;
}

function activationKind(info: TensorInfo | undefined): 'image' | 'sequence' | undefined {
  if (!info || !FLOAT_ELEM_TYPES.has(info.elemType)) return undefined;
  if (info.shape.length === 4) return 'image';
  if (info.shape.length === 3) return 'sequence';
  return undefined;
}

/**
 * Candidates at or beyond this share of the model's work are dropped: an exit there saves at most
 * 2% of an input's latency, less than a ramp and a cut cost on any model measured so far.
 */
export const MAX_CANDIDATE_COST_FRACTION = 0.98;

/** What the analysis cannot read from the ONNX file itself. */
export interface AnalyzeOptions {
  /** Sizes for input axes the file leaves symbolic (beyond the batch); see `input-shapes.ts`. */
  readonly inputShapes?: InputShapes;
}

/**
 * Analyses a model: topological order, inputs, feasible cuts, candidates with shapes and costs.
 * Runs the model once (two tiny batches) when the file does not declare intermediate shapes.
 */
export async function analyzeGraph(model: OnnxModel, options: AnalyzeOptions = {}): Promise<GraphAnalysis> {
  const graph = model.graph;
  if (!graph?.node?.length) throw new InputError('the model has no graph nodes to analyse');
  const staticNames = new Set<string>([
    ...(graph.initializer ?? []).map((tensor) => tensor.name ?? ''),
    ...(graph.sparseInitializer ?? []).map((tensor) => tensor.values?.name ?? ''),
  ]);
  const inputs = realInputs(graph, staticNames, options.inputShapes ?? new Map());
  const inputNames = inputs.map((input) => input.name);
  const primaryInput = inputNames[0] as string;
  const outputs = (graph.output ?? []).map((info) => info.name ?? '');
  if (outputs.length === 0) throw new InputError('the model has no graph output; a classifier needs one');
  const nodes = topologicalOrder(graph.node, new Set([...staticNames, ...inputNames]));
  const roles = classifyTensors(nodes, staticNames, inputNames, primaryInput);
  const cuts = findFeasiblePositions(nodes, roles, inputNames, outputs);

  const wanted = new Set<string>();
  for (const cut of cuts) for (const name of [cut.activation, ...cut.sideTensors]) wanted.add(name);
  nodes.forEach((node) => {
    if (!isStaticNode(node, roles)) for (const name of costTensors(node)) wanted.add(name);
  });
  const tensors = await resolveTensorInfo(model, [...wanted], inputs, (name) => roles.get(name) === 'data');
  const info = (name: string) => tensors.get(name);

  const { fractions, totalMacs } = cumulativeCostFractions(
    nodes,
    info,
    (index) => !isStaticNode(nodes[index] as onnx.INodeProto, roles),
  );
  const feasiblePositions: FeasiblePosition[] = cuts.map((cut) => ({
    ...cut,
    costFraction: fractions[cut.position] as number,
  }));
  const { positions: selected, strategy } = selectCandidatePositions({
    ordered: nodes,
    roles,
    feasible: feasiblePositions,
    eligible: (cut) => activationKind(info(cut.activation)) !== undefined,
  });
  // An exit this late cannot save anything worth a ramp's cost: the input is almost finished.
  const positions = selected.filter(
    (cut) => (cut as FeasiblePosition).costFraction < MAX_CANDIDATE_COST_FRACTION,
  );
  if (positions.length === 0) throw noCandidateError(cuts, selected, info);
  const candidates: Candidate[] = positions.map((cut, index) => {
    const activation = info(cut.activation) as TensorInfo;
    return {
      ...(cut as FeasiblePosition),
      id: `c${index}`,
      tensor: cut.activation,
      shape: activation.shape,
      kind: activationKind(activation) as 'image' | 'sequence',
      dtype: elemTypeName(activation.elemType),
    };
  });
  const result: GraphAnalysis = {
    nodes,
    primaryInput,
    sideInputs: inputNames.slice(1),
    outputs,
    roles,
    feasiblePositions,
    candidates,
    candidateStrategy: strategy,
    tensors,
    totalMacs,
  };
  const attentionMask = findAttentionMask(inputs);
  return attentionMask ? { ...result, attentionMask } : result;
}

/** The refusal for a model without candidates, saying what the analysis found at each step. */
function noCandidateError(
  cuts: readonly CutPosition[],
  selected: readonly CutPosition[],
  info: (name: string) => TensorInfo | undefined,
): InputError {
  const found = (list: readonly CutPosition[]) =>
    [...new Set(list.map((cut) => describe(info(cut.activation))))].slice(0, 8).join(', ');
  const eligible = cuts.filter((cut) => activationKind(info(cut.activation)) !== undefined);
  let why: string;
  if (cuts.length === 0) {
    why = 'no point in its graph is crossed by a single activation tensor';
  } else if (eligible.length === 0) {
    why = `the ${cuts.length} points crossed by a single activation tensor carry none of rank 4 [batch,C,H,W] or rank 3 [batch,T,H] in floating point (found ${found(cuts)})`;
  } else if (selected.length > 0) {
    why = `the ${selected.length} block ends it has (${found(selected)}) all lie at ${MAX_CANDIDATE_COST_FRACTION * 100}% of its multiply-accumulates or later, where an exit saves nothing`;
  } else {
    why = `of the ${cuts.length} points crossed by a single activation tensor, ${eligible.length} carry an image or sequence activation (found ${found(eligible)}), but none ends a numbered module, a merge (residual Add, Concat) or a convolution with its activation and pooling`;
  }
  return new InputError(
    `model has no candidate position: ${why}; ramps need a block's output between its input and output`,
  );
}

function describe(info: TensorInfo | undefined): string {
  return info ? `${elemTypeName(info.elemType)}[${info.shape.join(',')}]` : 'unknown';
}
