/**
 * `inspect`: a model's candidate positions with their tensors, shapes and where they sit in the
 * model's measured latency. It needs no data set (inputs are synthetic: zeros for floats, ones for
 * integers such as token ids and masks), so it works on any ONNX classifier a user brings.
 */
import type { PlainFeeds, PlainTensor } from '../inference/batch-encoding';
import type { SessionOptions } from '../inference/onnx-session';
import type { GraphAnalysis } from '../onnx/graph-analysis';
import { sliceModel } from '../onnx/slicing';
import { elemTypeName, type Dimension } from '../onnx/tensor-types';
import { backboneMs, profileLatency } from './profile';
import type { AnalysedSource } from './model-source';

export interface InspectedCandidate {
  readonly id: string;
  readonly tensor: string;
  readonly shape: readonly Dimension[];
  readonly kind: 'image' | 'sequence';
  readonly sideTensors: readonly string[];
  /** Share of the model's multiply-accumulates before the position. */
  readonly costFraction: number;
  /** Share of the model's measured latency (chained segments, at the batch size below) before the position. */
  readonly latencyFraction: number;
}

export interface InspectReport {
  readonly model: string;
  readonly candidateStrategy: string;
  readonly batchSize: number;
  readonly plainMs: number;
  readonly candidates: readonly InspectedCandidate[];
}

/** Synthetic feeds for every graph input at the given batch size. */
export function syntheticFeeds(analysis: GraphAnalysis, batchSize: number): PlainFeeds {
  const feeds: PlainFeeds = {};
  for (const name of [analysis.primaryInput, ...analysis.sideInputs]) {
    const info = analysis.tensors.get(name);
    if (!info) throw new Error(`no type information for graph input ${name}`);
    const dims = [batchSize, ...info.unitShape.slice(1)];
    const size = dims.reduce((a, b) => a * b, 1);
    const dtype = elemTypeName(info.elemType);
    let tensor: PlainTensor;
    if (dtype === 'int64') tensor = { dtype, data: new BigInt64Array(size).fill(1n), dims };
    else if (dtype === 'int32') tensor = { dtype, data: new Int32Array(size).fill(1), dims };
    else tensor = { dtype: 'float32', data: new Float32Array(size), dims };
    feeds[name] = tensor;
  }
  return feeds;
}

/** Profiles the all-candidates cut at one batch size and reports each candidate's position. */
export async function inspectModel(
  source: AnalysedSource,
  options: SessionOptions & { batchSize?: number; repeats?: number } = {},
): Promise<InspectReport> {
  const { analysis } = source;
  const batchSize = options.batchSize ?? 8;
  const segments = sliceModel(source.onnxModel, analysis, {
    candidateIds: analysis.candidates.map((c) => c.id),
  });
  const profile = await profileLatency(
    { model: source.onnxPath, segments, ramps: [] },
    (size) => syntheticFeeds(analysis, size),
    { ...options, batchSizes: [batchSize], repeats: options.repeats ?? 10, warmupRuns: 2 },
  );
  const total = backboneMs(profile, segments.length - 1, 0);
  return {
    model: source.onnxPath,
    candidateStrategy: analysis.candidateStrategy,
    batchSize,
    plainMs: profile.plainMs[0] as number,
    candidates: analysis.candidates.map((c, index) => ({
      id: c.id,
      tensor: c.tensor,
      shape: c.shape,
      kind: c.kind,
      sideTensors: c.sideTensors,
      costFraction: c.costFraction,
      latencyFraction: total > 0 ? backboneMs(profile, index, 0) / total : c.costFraction,
    })),
  };
}
