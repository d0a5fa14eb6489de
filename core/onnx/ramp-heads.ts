/**
 * Ramps as ONNX: pooling (see pooling-subgraph) followed by one linear layer and a softmax. Three
 * builders share that one construction:
 * - `buildFeatureModel` adds pooled-feature outputs to the plain model, so the bootstrap inputs
 *   yield training features for every (candidate, member) pair in a single pass;
 * - `attachRamp` adds a trained ramp to a segment, whose extra output is the ramp's class
 *   probabilities, released between segments by the worker;
 * - `buildRampModel` makes the ramp a model of its own, to profile its cost at each batch size.
 */
import { onnx } from 'onnx-proto';
import { InputError } from '../errors';
import type { AttentionMaskInput, Candidate, GraphAnalysis } from './graph-analysis';
import { floatTensor, makeNode } from './graph-builder';
import { cloneOnnxModel, decodeOnnxModel, encodeOnnxModel, type OnnxModel } from './onnx-model';
import { poolingSubgraph, type Subgraph } from './pooling-subgraph';
import { featureSize, memberKey, poolsMean, type RampMember } from './ramp-members';
import {
  FLOAT_ELEM_TYPES,
  declaredTensorInfo,
  elemTypeFromName,
  makeValueInfo,
  type Dimension,
} from './tensor-types';

/** Re-exported so ramp users size weights without importing the member definitions. */
export { featureSize } from './ramp-members';

/** One feature output to capture: a member's pooling at a candidate. */
export interface FeatureRequest {
  readonly candidateId: string;
  readonly member: RampMember;
}

/** The output name of a captured feature, e.g. `feature:c3:avg4`. */
export function featureOutputName(candidateId: string, member: RampMember): string {
  return `feature:${candidateId}:${memberKey(member)}`;
}

const FLOAT = onnx.TensorProto.DataType.FLOAT;

function memberFits(member: RampMember, candidate: Candidate): void {
  if (member.type !== candidate.kind) {
    throw new InputError(
      `ramp member ${memberKey(member)} pools ${member.type} activations, but candidate ${candidate.id} carries a ${candidate.kind} activation [${candidate.shape.join(',')}]`,
    );
  }
}

function append(graph: onnx.IGraphProto, subgraph: Subgraph): void {
  graph.node = [...(graph.node ?? []), ...subgraph.nodes];
  graph.initializer = [...(graph.initializer ?? []), ...subgraph.initializers];
}

/**
 * The plain model with extra outputs `feature:<candidateId>:<memberKey>` [B, featureSize] for each
 * requested pair (duplicates are captured once); the original outputs stay first and unchanged.
 * Mean pooling uses the model's attention mask when it has one.
 */
export function buildFeatureModel(
  model: OnnxModel,
  analysis: GraphAnalysis,
  requests: readonly FeatureRequest[],
): Uint8Array {
  const byId = new Map(analysis.candidates.map((candidate) => [candidate.id, candidate]));
  const copy = cloneOnnxModel(model);
  const graph = copy.graph as onnx.IGraphProto;
  const done = new Set<string>();
  for (const request of requests) {
    const candidate = byId.get(request.candidateId);
    if (!candidate) {
      throw new InputError(
        `unknown candidate ${request.candidateId}; this model's candidates are ${analysis.candidates.map((c) => c.id).join(', ')}`,
      );
    }
    memberFits(request.member, candidate);
    const output = featureOutputName(candidate.id, request.member);
    if (done.has(output)) continue;
    done.add(output);
    const mask = analysis.attentionMask?.name;
    append(
      graph,
      poolingSubgraph({
        activation: candidate.tensor,
        shape: candidate.shape,
        elemType: elemTypeFromName(candidate.dtype) ?? FLOAT,
        member: request.member,
        ...(mask ? { mask } : {}),
        prefix: `apparate/${output}/`,
        output,
      }),
    );
    const size = featureSize(request.member, candidate.shape);
    graph.output = [
      ...(graph.output ?? []),
      makeValueInfo(output, FLOAT, [candidate.shape[0] ?? 'batch', size]),
    ];
  }
  return encodeOnnxModel(copy);
}

/** The probabilities output of candidate `candidateId`'s ramp where it is attached to a model. */
export function rampOutputName(candidateId: string): string {
  return `apparate:ramp:${candidateId}:probs`;
}

/** A trained ramp to add to a segment. */
export interface RampAttachment {
  /** The activation the ramp reads: an input or output the segment declares (sliceModel declares its cut's). */
  readonly activation: string;
  readonly member: RampMember;
  /** Row-major [featureSize, classes]. */
  readonly weights: Float32Array;
  /** [classes]. */
  readonly bias: Float32Array;
  /** Name of the probabilities output [B, classes]. */
  readonly outputName: string;
  /**
   * For mean pooling: the model's attention mask (`GraphAnalysis.attentionMask`), which the segment
   * then takes as an input if it does not already; `null` for an unmasked mean. When omitted, a
   * segment input named like a mask is used, and a mean member without one is refused.
   */
  readonly attentionMask?: AttentionMaskInput | null;
}

interface HeadSpec {
  readonly activation: string;
  readonly shape: readonly Dimension[];
  readonly elemType: number;
  readonly member: RampMember;
  readonly mask?: string;
  readonly weights: Float32Array;
  readonly bias: Float32Array;
  readonly output: string;
}

/** Pooling, then Gemm and Softmax over the classes; the shared core of attachRamp and buildRampModel. */
function rampHead(spec: HeadSpec): Subgraph {
  const size = featureSize(spec.member, spec.shape);
  const classes = spec.bias.length;
  if (classes < 2 || spec.weights.length !== size * classes) {
    throw new InputError(
      `ramp ${memberKey(spec.member)} over [${spec.shape.join(',')}] needs weights of ${size}x${classes} = ${size * classes} values and a bias of at least 2 classes; got ${spec.weights.length} weights and ${classes} bias values`,
    );
  }
  const prefix = `apparate/${spec.output}/`;
  const features = `${prefix}features`;
  const pooling = poolingSubgraph({
    activation: spec.activation,
    shape: spec.shape,
    elemType: spec.elemType,
    member: spec.member,
    ...(spec.mask ? { mask: spec.mask } : {}),
    prefix,
    output: features,
  });
  const weight = floatTensor(`${prefix}weight`, [size, classes], spec.weights);
  const bias = floatTensor(`${prefix}bias`, [classes], spec.bias);
  const logits = `${prefix}logits`;
  return {
    nodes: [
      ...pooling.nodes,
      makeNode('Gemm', [features, weight.name as string, bias.name as string], [logits], `${logits}_node`),
      // The class axis; on 2-D logits every opset's Softmax normalises the same way.
      makeNode('Softmax', [logits], [spec.output], `${spec.output}_node`, { axis: 1 }),
    ],
    initializers: [...pooling.initializers, weight, bias],
  };
}

function declaredShape(
  graph: onnx.IGraphProto,
  name: string,
): { elemType: number; shape: Dimension[] } | undefined {
  const info = [...(graph.output ?? []), ...(graph.input ?? []), ...(graph.valueInfo ?? [])].find(
    (candidate) => candidate.name === name,
  );
  const declared = info ? declaredTensorInfo(info) : undefined;
  if (!declared?.complete) return undefined;
  return { elemType: declared.elemType, shape: declared.dims as Dimension[] };
}

function resolveMask(
  graph: onnx.IGraphProto,
  attachment: RampAttachment,
  batch: Dimension,
): string | undefined {
  if (!poolsMean(attachment.member) || attachment.attentionMask === null) return undefined;
  const inputs = graph.input ?? [];
  const given = attachment.attentionMask;
  if (!given) {
    const found = inputs.find(
      (input) => /mask/i.test(input.name ?? '') && declaredShape(graph, input.name ?? '')?.shape.length === 2,
    );
    if (!found?.name) {
      throw new InputError(
        `ramp member ${memberKey(attachment.member)} averages over the attention mask, and the segment has no mask input; pass attentionMask (the analysis's attentionMask) or null for an unmasked mean`,
      );
    }
    return found.name;
  }
  if (!inputs.some((input) => input.name === given.name)) {
    graph.input = [...inputs, makeValueInfo(given.name, given.elemType, [batch, given.length])];
  }
  return given.name;
}

/**
 * A segment with a ramp on `activation`: an extra output `outputName` holding softmax probabilities
 * [B, classes]. The pooling is the one `buildFeatureModel` captured training features with.
 */
export function attachRamp(segmentBytes: Uint8Array, attachment: RampAttachment): Uint8Array {
  const segment = decodeOnnxModel(segmentBytes, 'the segment');
  const graph = segment.graph as onnx.IGraphProto;
  const activation = declaredShape(graph, attachment.activation);
  if (!activation) {
    throw new InputError(
      `the segment declares no tensor ${attachment.activation} with a full shape; attach ramps to a segment's cut activation (an input or output made by sliceModel)`,
    );
  }
  const taken = new Set([
    ...(graph.node ?? []).flatMap((node) => node.output ?? []),
    ...(graph.input ?? []).map((input) => input.name),
  ]);
  if (taken.has(attachment.outputName)) {
    throw new InputError(
      `the segment already has a tensor named ${attachment.outputName}; give the ramp output a new name`,
    );
  }
  const batch = activation.shape[0] ?? 'batch';
  const mask = resolveMask(graph, attachment, batch);
  append(
    graph,
    rampHead({
      activation: attachment.activation,
      shape: activation.shape,
      elemType: activation.elemType,
      member: attachment.member,
      ...(mask ? { mask } : {}),
      weights: attachment.weights,
      bias: attachment.bias,
      output: attachment.outputName,
    }),
  );
  graph.output = [
    ...(graph.output ?? []),
    makeValueInfo(attachment.outputName, FLOAT, [batch, attachment.bias.length]),
  ];
  return encodeOnnxModel(segment);
}

/** Opset of standalone ramp models; every operator used has had its current meaning since opset 13. */
const RAMP_OPSET = 17;

/**
 * A ramp as its own model: input `activation` (plus `attention_mask` int64 [B,T] when `needsMask`
 * and the member averages tokens), output `probs` [B, classes]. Used to profile a ramp's cost; it
 * computes exactly what `attachRamp` adds to a segment. `dtype` is the activation's element type as
 * onnxruntime names it (`float32`); the batch axis is always symbolic.
 */
export function buildRampModel(
  activationShape: readonly Dimension[],
  dtype: string,
  member: RampMember,
  weights: Float32Array,
  bias: Float32Array,
  needsMask: boolean,
): Uint8Array {
  const elemType = elemTypeFromName(dtype);
  if (elemType === undefined || !FLOAT_ELEM_TYPES.has(elemType)) {
    throw new InputError(`ramp activations must be float32, float16, float64 or bfloat16; got ${dtype}`);
  }
  const shape: Dimension[] = ['batch', ...activationShape.slice(1)];
  const withMask = needsMask && poolsMean(member);
  const length = shape[1];
  const inputs = [makeValueInfo('activation', elemType, shape)];
  if (withMask)
    inputs.push(makeValueInfo('attention_mask', onnx.TensorProto.DataType.INT64, ['batch', length ?? 1]));
  const head = rampHead({
    activation: 'activation',
    shape,
    elemType,
    member,
    ...(withMask ? { mask: 'attention_mask' } : {}),
    weights,
    bias,
    output: 'probs',
  });
  return encodeOnnxModel({
    irVersion: 8,
    opsetImport: [{ domain: '', version: RAMP_OPSET }],
    producerName: 'apparate',
    graph: {
      name: `ramp_${memberKey(member)}`,
      node: head.nodes,
      initializer: head.initializers,
      input: inputs,
      output: [makeValueInfo('probs', FLOAT, ['batch', bias.length])],
    },
  });
}
