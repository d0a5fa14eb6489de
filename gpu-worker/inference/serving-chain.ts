/**
 * The sessions that serve one ramp config, as the inference thread holds them: the model cut at
 * the config's candidates (shallow to deep), each active ramp attached to the segment that ends at
 * its candidate, one onnxruntime session per segment. A batch runs through them in order and each
 * ramp's probabilities are handed out as soon as their segment has run, while the batch goes on.
 *
 * Sessions are created once per config and warmed at every profiled padded batch size before they
 * serve: onnxruntime's first run at a new shape allocates and plans its memory, which would
 * otherwise land on the first real batch of each size as a latency spike.
 */
import { performance } from 'node:perf_hooks';
import { readBundle, type LoadedBundle } from '../../core/bundle/bundle-io';
import type { RampConfig } from '../../core/control/ramp-config';
import { ArtifactError } from '../../core/errors';
import { createBatchEncoder, type PlainFeeds, type PlainTensor } from '../../core/inference/batch-encoding';
import { openSession, type ModelSession, type SessionOptions } from '../../core/inference/onnx-session';
import { releaseTensors } from '../../core/inference/release-tensors';
import { pickFeeds } from '../../core/inference/segment-chain';
import { analyzeGraph, type GraphAnalysis } from '../../core/onnx/graph-analysis';
import { inputShapesFromSpec } from '../../core/onnx/input-shapes';
import { readOnnxModel, type OnnxModel } from '../../core/onnx/onnx-model';
import { attachRamp } from '../../core/onnx/ramp-heads';
import { parseMemberKey } from '../../core/onnx/ramp-members';
import { sliceModel } from '../../core/onnx/slicing';
import type { CandidateSummary } from './protocol';

/** Warm-up runs per (segment, padded batch size): the first run at a shape pays its allocations. */
export const WARMUP_RUNS_PER_SIZE = 2;

/** A bundle opened for serving: its model decoded and analysed once, for every config to cut. */
export interface ServingModel {
  readonly bundle: LoadedBundle;
  readonly onnxModel: OnnxModel;
  readonly analysis: GraphAnalysis;
  /** The bundle's candidates, shallow to deep. */
  readonly candidates: readonly CandidateSummary[];
  readonly sessionOptions: SessionOptions;
}

/** One segment's session, with the ramp it carries when its end is an active candidate. */
interface Stage {
  readonly session: ModelSession;
  readonly ramp?: { readonly index: number; readonly candidateId: string; readonly output: string };
}

/** The sessions of one config, ready to serve. */
export interface ServingChain {
  readonly config: RampConfig;
  readonly stages: readonly Stage[];
  /** Releases every session; the chain must not run afterwards. */
  release(): Promise<void>;
}

/** What a batch gave: the real rows' model output and each segment's wall time. */
export interface ChainResult {
  readonly logits: Float32Array;
  readonly segmentMs: number[];
}

/** Called with a ramp's probabilities for the real rows as soon as its segment has run. */
export type RampSink = (rampIndex: number, candidateId: string, probs: Float32Array) => void;

/**
 * Reads the bundle, decodes and analyses its model, and checks that the analysis still yields the
 * candidates the bundle was prepared with (the ramps' weights belong to those exact tensors).
 */
export async function openServingModel(
  bundleDir: string,
  sessionOptions: SessionOptions,
): Promise<ServingModel> {
  const bundle = await readBundle(bundleDir);
  const onnxModel = await readOnnxModel(bundle.modelPath);
  const analysis = await analyzeGraph(onnxModel, {
    inputShapes: inputShapesFromSpec(bundle.manifest.model.spec.inputs),
  });
  const analysed = new Map(analysis.candidates.map((candidate) => [candidate.id, candidate]));
  for (const candidate of bundle.manifest.candidates) {
    const found = analysed.get(candidate.id);
    if (!found || found.tensor !== candidate.tensor || found.position !== candidate.position) {
      throw new ArtifactError(
        `bundle ${bundleDir}: candidate ${candidate.id} (${candidate.tensor}) is not where this version's analysis of the model puts it; prepare the bundle again`,
      );
    }
  }
  const candidates = bundle.manifest.candidates.map((c) => ({ id: c.id, position: c.position }));
  return { bundle, onnxModel, analysis, candidates, sessionOptions };
}

/** Lets messages queued on the thread (serving batches) run between the steps of a long build. */
function yieldToQueuedWork(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function rampOutputName(candidateId: string): string {
  return `apparate:ramp:${candidateId}:probs`;
}

/** The first `rows` rows of a [batch, ...] float tensor, in a buffer of their own (to transfer). */
function realRows(tensor: PlainTensor | undefined, rows: number, what: string): Float32Array {
  const batch = tensor?.dims[0];
  if (!tensor || !(tensor.data instanceof Float32Array) || !batch) {
    throw new ArtifactError(`the serving chain produced no float32 ${what}`);
  }
  return tensor.data.slice(0, (tensor.data.length / batch) * rows);
}

/**
 * Runs one batch through the chain. `feeds` must already have been checked against the model's
 * inputs; `rows` is how many leading rows are real (the rest is padding, never reported).
 */
export async function runServingChain(
  model: ServingModel,
  chain: ServingChain,
  feeds: PlainFeeds,
  rows: number,
  onRamp: RampSink,
): Promise<ChainResult> {
  const available: Record<string, PlainTensor> = { ...feeds };
  const segmentMs: number[] = [];
  for (const stage of chain.stages) {
    const began = performance.now();
    const outputs = await stage.session.runAny(pickFeeds(available, stage.session.inputNames));
    segmentMs.push(performance.now() - began);
    Object.assign(available, outputs);
    if (stage.ramp) {
      const { index, candidateId, output } = stage.ramp;
      onRamp(index, candidateId, realRows(outputs[output], rows, `probabilities for ramp ${candidateId}`));
    }
  }
  const output = model.analysis.outputs[0] as string;
  const logits = realRows(available[output], rows, `model output ${output}`);
  // Every tensor the segments produced has been read (what leaves the thread are copies of real
  // rows): free their memory now rather than at the collector's next full collection.
  releaseTensors(available, feeds);
  return { logits, segmentMs };
}

async function releaseAll(sessions: readonly ModelSession[]): Promise<void> {
  await Promise.all(sessions.map((session) => session.release()));
}

/**
 * Builds and warms the sessions of a config (already checked against the bundle). With
 * `yieldBetweenSteps`, each step (a segment's session, a warm-up size) lets queued batches run
 * first, so a config can be built while the current one keeps serving on the same thread.
 */
export async function buildServingChain(
  model: ServingModel,
  config: RampConfig,
  options: { readonly yieldBetweenSteps?: boolean } = {},
): Promise<ServingChain> {
  const pause = options.yieldBetweenSteps ? yieldToQueuedWork : () => Promise.resolve();
  const { bundle, onnxModel, analysis } = model;
  const ids = config.ramps.map((ramp) => ramp.id);
  const segments = sliceModel(onnxModel, analysis, { candidateIds: ids });
  const records = new Map(bundle.manifest.candidates.map((candidate) => [candidate.id, candidate]));
  const stages: Stage[] = [];
  try {
    for (const [index, segment] of segments.entries()) {
      await pause();
      const candidateId = ids[index];
      let bytes = segment.bytes;
      let ramp: Stage['ramp'];
      if (candidateId !== undefined) {
        const record = records.get(candidateId);
        const weights = bundle.rampWeights.get(candidateId);
        if (!record || !weights) throw new ArtifactError(`bundle has no trained ramp for ${candidateId}`);
        const output = rampOutputName(candidateId);
        bytes = attachRamp(segment.bytes, {
          activation: record.tensor,
          member: parseMemberKey(record.ramp.member),
          weights: weights.weights,
          bias: weights.bias,
          outputName: output,
          attentionMask: analysis.attentionMask ?? null,
        });
        ramp = { index, candidateId, output };
      }
      const session = await openSession(bytes, model.sessionOptions);
      stages.push(ramp ? { session, ramp } : { session });
    }
    const chain: ServingChain = { config, stages, release: () => releaseAll(stages.map((s) => s.session)) };
    const encoder = createBatchEncoder(bundle.manifest.model.spec);
    for (const batchSize of bundle.manifest.profile.batchSizes) {
      const padding = encoder.encode([], batchSize);
      for (let run = 0; run < WARMUP_RUNS_PER_SIZE; run++) {
        await pause();
        await runServingChain(model, chain, padding, batchSize, () => undefined);
      }
    }
    return chain;
  } catch (error) {
    await releaseAll(stages.map((stage) => stage.session));
    throw error;
  }
}
