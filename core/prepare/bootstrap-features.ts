/**
 * Bootstrap capture: one pass of the plain model over the bootstrap inputs that records, for every
 * candidate and every ramp-family member, the pooled activation the ramp would see, together with
 * the model's own prediction (the ramps' training label). The pooling runs inside the model as
 * ONNX nodes, the same nodes a deployed ramp uses, so training and serving see identical features.
 */
import type { DataSplit } from '../data/dataset';
import { sampleAt } from '../data/dataset';
import { createBatchEncoder } from '../inference/batch-encoding';
import { openSession, type SessionOptions } from '../inference/onnx-session';
import type { ModelSpec } from '../model/model-spec';
import type { GraphAnalysis } from '../onnx/graph-analysis';
import type { OnnxModel } from '../onnx/onnx-model';
import { buildFeatureModel, featureOutputName, featureSize, type FeatureRequest } from '../onnx/ramp-heads';
import { argmax } from '../util/stats';

export interface CapturedFeatures {
  readonly count: number;
  /** The plain model's prediction per bootstrap input. */
  readonly predictions: Uint16Array;
  /** Row-major [count, featureSize] per feature output name. */
  readonly features: ReadonlyMap<string, { readonly size: number; readonly values: Float32Array }>;
}

/** Runs the feature-capturing model over the first `count` samples of the stream. */
export async function captureBootstrapFeatures(
  model: OnnxModel,
  spec: ModelSpec,
  analysis: GraphAnalysis,
  requests: readonly FeatureRequest[],
  stream: DataSplit,
  count: number,
  options: SessionOptions & { batchSize?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<CapturedFeatures> {
  const batchSize = options.batchSize ?? 32;
  const byId = new Map(analysis.candidates.map((c) => [c.id, c]));
  const features = new Map<string, { size: number; values: Float32Array }>();
  for (const request of requests) {
    const candidate = byId.get(request.candidateId);
    if (!candidate) throw new Error(`unknown candidate ${request.candidateId}`);
    const size = featureSize(request.member, candidate.shape);
    features.set(featureOutputName(request.candidateId, request.member), {
      size,
      values: new Float32Array(count * size),
    });
  }
  const session = await openSession(buildFeatureModel(model, analysis, requests), options);
  const encoder = createBatchEncoder(spec);
  const classes = spec.classes.length;
  const logitsName = analysis.outputs[0] as string;
  const predictions = new Uint16Array(count);
  try {
    for (let start = 0; start < count; start += batchSize) {
      const rows = Math.min(batchSize, count - start);
      const samples = Array.from({ length: rows }, (_, i) => sampleAt(stream, start + i));
      const outputs = await session.run(encoder.encode(samples));
      const logits = outputs[logitsName];
      if (!logits) throw new Error(`feature model returned no ${logitsName}`);
      for (let row = 0; row < rows; row++)
        predictions[start + row] = argmax(logits.data, row * classes, classes);
      for (const [name, feature] of features) {
        const output = outputs[name];
        if (!output) throw new Error(`feature model returned no ${name}`);
        feature.values.set(output.data.subarray(0, rows * feature.size), start * feature.size);
      }
      options.onProgress?.(start + rows, count);
    }
  } finally {
    await session.release();
  }
  return { count, predictions, features };
}
