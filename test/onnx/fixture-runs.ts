/**
 * Running fixture models and their segments over real serving inputs, shared by the slicing and
 * ramp tests. Inputs are encoded by the project's own batch encoder, exactly as the worker would.
 */
import { sampleAt } from '../../core/data/dataset';
import { maxAbsDiff, runChain as runSegmentChain } from '../../core/inference/segment-chain';
import { createBatchEncoder, type PlainFeeds } from '../../core/inference/batch-encoding';
import { openSession } from '../../core/inference/onnx-session';
import type { LoadedModel } from '../../core/model/load-model';
import { analyzeGraph, type GraphAnalysis } from '../../core/onnx/graph-analysis';
import { readOnnxModel, type OnnxModel } from '../../core/onnx/onnx-model';
import { loadFixtureModel, loadModelData } from '../../core/zoo/fixtures';

export interface AnalysedFixture {
  readonly fixture: LoadedModel;
  readonly model: OnnxModel;
  readonly analysis: GraphAnalysis;
}

/** Loads a fixture model, decodes it and analyses it. */
export async function analysedFixture(name: string): Promise<AnalysedFixture> {
  const fixture = await loadFixtureModel(name);
  const model = await readOnnxModel(fixture.onnxPath);
  return { fixture, model, analysis: await analyzeGraph(model) };
}

/** The first `count` serving samples, encoded in batches of `batchSize`. */
export async function servingBatches(
  fixture: LoadedModel,
  count: number,
  batchSize: number,
): Promise<PlainFeeds[]> {
  const split = await loadModelData(fixture, 'serving');
  const encoder = createBatchEncoder(fixture.spec);
  const batches: PlainFeeds[] = [];
  for (let start = 0; start < count; start += batchSize) {
    const samples = [];
    for (let i = start; i < Math.min(count, start + batchSize); i++) samples.push(sampleAt(split, i));
    batches.push(encoder.encode(samples));
  }
  return batches;
}

/**
 * Runs models in a chain over each batch: model i reads its inputs from the batch and from every
 * earlier model's outputs. Returns, per batch, everything any model produced.
 */
export async function runChain(
  models: readonly Uint8Array[],
  batches: readonly PlainFeeds[],
): Promise<PlainFeeds[]> {
  const sessions = [];
  try {
    for (const bytes of models) sessions.push(await openSession(bytes, { intraOpThreads: 2 }));
    const results: PlainFeeds[] = [];
    const chain = sessions.map((session) => ({ inputs: session.inputNames, outputs: session.outputNames }));
    for (const batch of batches) results.push(await runSegmentChain(sessions, chain, batch));
    return results;
  } finally {
    for (const session of sessions) await session.release();
  }
}

export { maxAbsDiff };

/** A named float tensor of a chain result. */
export function floats(result: PlainFeeds, name: string): { data: Float32Array; dims: readonly number[] } {
  const tensor = result[name];
  if (!tensor || !(tensor.data instanceof Float32Array)) throw new Error(`no float tensor ${name}`);
  return { data: tensor.data, dims: tensor.dims };
}
