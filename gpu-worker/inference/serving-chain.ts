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
import { ArtifactError, messageOf } from '../../core/errors';
import { createBatchEncoder, type PlainFeeds, type PlainTensor } from '../../core/inference/batch-encoding';
import { openSession, type ModelSession, type SessionOptions } from '../../core/inference/onnx-session';
import { releaseTensors } from '../../core/inference/release-tensors';
import { pickFeeds } from '../../core/inference/segment-chain';
import { analyzeGraph, type GraphAnalysis } from '../../core/onnx/graph-analysis';
import { inputShapesFromSpec } from '../../core/onnx/input-shapes';
import { readOnnxModel, type OnnxModel } from '../../core/onnx/onnx-model';
import { exitTapState, runTapped, type ExitTapState } from '../../core/inference/exit-tap';
import { tappedModel } from '../../core/onnx/exit-taps';
import { attachRamp, rampOutputName, type RampAttachment } from '../../core/onnx/ramp-heads';
import { median } from '../../core/util/stats';
import { parseMemberKey } from '../../core/onnx/ramp-members';
import { sliceModel } from '../../core/onnx/slicing';
import type { CandidateSummary, ServingMode } from './protocol';

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
  /** Whether configs are served through exit taps where they are available; else cut. */
  readonly exitTaps: boolean;
}

/** A ramp of the config: its index in the config and its candidate. */
interface ServedRamp {
  readonly index: number;
  readonly candidateId: string;
}

/**
 * One session: a segment with the ramp it carries when its end is an active candidate, or the
 * whole model with every ramp tapped (`taps`, numbered as the graph's taps are).
 */
interface Stage {
  readonly session: ModelSession;
  readonly ramp?: ServedRamp & { readonly output: string };
  readonly taps?: readonly ServedRamp[];
  /** The tapped ramps' probabilities outputs, in tap order. */
  readonly tapOutputs?: readonly string[];
}

/** The sessions of one config, ready to serve. */
export interface ServingChain {
  readonly config: RampConfig;
  readonly mode: ServingMode;
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
  options: { readonly exitTaps?: boolean } = {},
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
  return { bundle, onnxModel, analysis, candidates, sessionOptions, exitTaps: options.exitTaps ?? true };
}

/** Lets messages queued on the thread (serving batches) run between the steps of a long build. */
function yieldToQueuedWork(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
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
    const stageFeeds = pickFeeds(available, stage.session.inputNames);
    const taps = stage.taps;
    // A tapped session hands each ramp's probabilities out in the middle of its run (runTapped).
    const outputs = await (taps
      ? runTapped(stage.session, stageFeeds, stage.tapOutputs ?? [], (tap, probs) => {
          const ramp = taps[tap] as ServedRamp;
          onRamp(
            ramp.index,
            ramp.candidateId,
            realRows(probs, rows, `probabilities for ramp ${ramp.candidateId}`),
          );
        })
      : stage.session.runAny(stageFeeds));
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

/** The ramp of candidate `id` as the bundle trained it, for attaching to a session. */
function rampAttachment(model: ServingModel, candidateId: string): RampAttachment {
  const record = model.bundle.manifest.candidates.find((candidate) => candidate.id === candidateId);
  const weights = model.bundle.rampWeights.get(candidateId);
  if (!record || !weights) throw new ArtifactError(`bundle has no trained ramp for ${candidateId}`);
  return {
    activation: record.tensor,
    member: parseMemberKey(record.ramp.member),
    weights: weights.weights,
    bias: weights.bias,
    outputName: rampOutputName(candidateId),
    attentionMask: model.analysis.attentionMask ?? null,
  };
}

/** The model cut at the config's ramps, each ramp on the segment that ends at its candidate. */
async function openSegments(model: ServingModel, ids: readonly string[], pause: () => Promise<void>) {
  const segments = sliceModel(model.onnxModel, model.analysis, { candidateIds: [...ids] });
  const stages: Stage[] = [];
  try {
    for (const [index, segment] of segments.entries()) {
      await pause();
      const candidateId = ids[index];
      if (candidateId === undefined) {
        stages.push({ session: await openSession(segment.bytes, model.sessionOptions) });
        continue;
      }
      const attachment = rampAttachment(model, candidateId);
      const session = await openSession(attachRamp(segment.bytes, attachment), model.sessionOptions);
      stages.push({ session, ramp: { index, candidateId, output: attachment.outputName } });
    }
    return stages;
  } catch (error) {
    await releaseAll(stages.map((stage) => stage.session));
    throw error;
  }
}

/** The whole model with every ramp of the config tapped, in one session. */
async function openTapped(model: ServingModel, ids: readonly string[]): Promise<Stage[]> {
  const bytes = tappedModel(
    model.onnxModel,
    model.analysis,
    ids.map((id) => rampAttachment(model, id)),
  );
  const session = await openSession(bytes, { ...model.sessionOptions, exitTaps: true });
  return [
    {
      session,
      taps: ids.map((candidateId, index) => ({ index, candidateId })),
      tapOutputs: ids.map(rampOutputName),
    },
  ];
}

/** Runs measured for where the taps fire, at the largest profiled batch size, after warm-up. */
export const TAP_CHECK_RUNS = 3;

/**
 * Why a tapped chain's taps do not fire where their ramps sit in the model, or undefined where
 * they do: each tap, in the median of a few runs, must fire in order and before the point halfway
 * between its candidate (the share of the model's time before it, as the bundle profiled it) and
 * the end of the run. onnxruntime's execution order places a tap after its ramp's head; a graph
 * optimisation could place the rest of the model first (exit-taps.ts), and such taps would answer
 * no sooner than the model.
 */
async function lateTaps(
  model: ServingModel,
  chain: ServingChain,
  feeds: PlainFeeds,
): Promise<string | undefined> {
  const fractions: number[][] = chain.config.ramps.map(() => []);
  for (let run = 0; run < TAP_CHECK_RUNS; run++) {
    const heard: { index: number; at: number }[] = [];
    const began = performance.now();
    await runServingChain(model, chain, feeds, 1, (index) => heard.push({ index, at: performance.now() }));
    const total = performance.now() - began;
    const order = heard.map((event) => event.index);
    if (order.join() !== chain.config.ramps.map((_, index) => index).join())
      return `taps fired in the order ${order.join(', ') || '(none)'}`;
    for (const event of heard) fractions[event.index]?.push((event.at - began) / total);
  }
  const records = new Map(model.bundle.manifest.candidates.map((candidate) => [candidate.id, candidate]));
  for (const [index, ramp] of chain.config.ramps.entries()) {
    const at = median(fractions[index] ?? []);
    const position = records.get(ramp.id)?.latencyFraction ?? 0;
    if (at > position + (1 - position) / 2)
      return `the tap of ${ramp.id} (at ${(position * 100).toFixed(0)}% of the model) fired at ${(at * 100).toFixed(0)}% of the run`;
  }
  return undefined;
}

/** Warms every session at each profiled padded batch size. */
async function warm(model: ServingModel, chain: ServingChain, pause: () => Promise<void>): Promise<void> {
  const encoder = createBatchEncoder(model.bundle.manifest.model.spec);
  for (const batchSize of model.bundle.manifest.profile.batchSizes) {
    const padding = encoder.encode([], batchSize);
    for (let run = 0; run < WARMUP_RUNS_PER_SIZE; run++) {
      await pause();
      await runServingChain(model, chain, padding, batchSize, () => undefined);
    }
  }
}

/**
 * Builds and warms the sessions of a config (already checked against the bundle): the whole model
 * with its ramps tapped where taps are available (`exitTapState`), else the model cut at them. A
 * tapped chain whose taps fire late (`lateTaps`) is served cut instead. With `yieldBetweenSteps`,
 * each step (a session, a warm-up size) lets queued batches run first, so a config can be built
 * while the current one keeps serving on the same thread.
 */
export async function buildServingChain(
  model: ServingModel,
  config: RampConfig,
  options: { readonly yieldBetweenSteps?: boolean } = {},
): Promise<ServingChain> {
  const pause = options.yieldBetweenSteps ? yieldToQueuedWork : () => Promise.resolve();
  const ids = config.ramps.map((ramp) => ramp.id);
  const chainOf = (stages: Stage[], mode: ServingMode): ServingChain => ({
    config,
    mode,
    stages,
    release: () => releaseAll(stages.map((stage) => stage.session)),
  });
  const provider = model.sessionOptions.executionProvider ?? 'cpu';
  const taps: ExitTapState = !model.exitTaps
    ? { available: false, reason: 'turned off by the engine option exitTaps' }
    : provider !== 'cpu'
      ? { available: false, reason: `sessions on ${provider} run through onnxruntime-node` }
      : exitTapState();
  let reason = taps.available ? undefined : `exit taps are not available: ${taps.reason}`;
  let stages: Stage[] | undefined;
  if (ids.length > 0 && taps.available && !model.sessionOptions.blocking) {
    reason = 'sessions here run through the event loop, and a tapped run must block its thread';
  } else if (ids.length > 0 && taps.available) {
    await pause();
    try {
      stages = await openTapped(model, ids);
    } catch (error) {
      reason = `the tapped model did not open: ${messageOf(error)}`;
    }
  }
  if (stages) {
    const chain = chainOf(stages, { kind: 'taps' });
    try {
      await warm(model, chain, pause);
      const largest = Math.max(...model.bundle.manifest.profile.batchSizes);
      reason = await lateTaps(
        model,
        chain,
        createBatchEncoder(model.bundle.manifest.model.spec).encode([], largest),
      );
      if (reason === undefined) return chain;
    } catch (error) {
      await chain.release();
      throw error;
    }
    await chain.release();
  }
  const chain = chainOf(await openSegments(model, ids, pause), {
    kind: 'segments',
    ...(ids.length > 0 && reason !== undefined ? { reason } : {}),
  });
  try {
    await warm(model, chain, pause);
    return chain;
  } catch (error) {
    await chain.release();
    throw error;
  }
}
