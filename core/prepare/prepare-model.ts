/**
 * Preparing a model for early exits: graph analysis, bootstrap capture, ramp training for every
 * candidate and family member, slicing, profiling, the choice of one ramp per candidate, a check
 * that the slices reproduce the model, and the initial configuration. Everything is computed in
 * memory; `writeBundle` then writes it in one atomic step, so an interrupted preparation leaves
 * nothing behind.
 */
import type { PreparedBundle, RampWeights } from '../bundle/bundle-io';
import { BUNDLE_FORMAT_VERSION, type BundleManifest, type CandidateRecord } from '../bundle/manifest';
import type { DataSplit } from '../data/dataset';
import { sampleAt } from '../data/dataset';
import { InputError } from '../errors';
import { createBatchEncoder } from '../inference/batch-encoding';
import { openSession, type SessionOptions } from '../inference/onnx-session';
import { maxAbsDiff, runChain } from '../inference/segment-chain';
import type { LoadedModel } from '../model/load-model';
import { analyzeGraph, type Candidate, type GraphAnalysis } from '../onnx/graph-analysis';
import { inputShapesFromSpec } from '../onnx/input-shapes';
import { readOnnxModel, type OnnxModel } from '../onnx/onnx-model';
import {
  buildRampModel,
  featureOutputName,
  rampOutputName,
  type FeatureRequest,
  type RampAttachment,
} from '../onnx/ramp-heads';
import { tappedModel } from '../onnx/exit-taps';
import { exitTapState } from '../inference/exit-tap';
import {
  IMAGE_MEMBERS,
  SEQUENCE_MEMBERS,
  memberKey,
  parseMemberKey,
  poolsMean,
  type RampMember,
} from '../onnx/ramp-members';
import { sliceModel } from '../onnx/slicing';
import { trainRamp, type TrainedRamp } from '../ramps/train-ramp';
import { captureBootstrapFeatures } from './bootstrap-features';
import { cutCostsMs } from '../bundle/cost-profile';
import { emptyRunModel, passThroughModel } from '../onnx/pass-through';
import { confirmPlacement, scaleToConfirmed } from './confirm-placement';
import { chooseInitialRamps } from './initial-config';
import { exitShare } from './exit-shares';
import { crossFittedObservations } from './cross-fitted';
import { PLACEMENT_AGREEMENT, type RampObservations } from './joint-saving';
import { DEFAULT_CONSTRAINT } from '../control/threshold-tuner';
import {
  backboneMs,
  profileLatency,
  referenceIndex,
  timeCutSet,
  timeTapSet,
  type ProfileOptions,
  type ProfiledCut,
  type ProfiledRamp,
} from './profile';
import { optimisedGraph } from './tap-price';
import { checkLimit, RAMP_BUDGET } from '../control/limits';
import { defaultThreadLayout } from '../inference/thread-layout';

export interface PrepareOptions extends SessionOptions {
  /** Leading fraction of the serving stream used to train ramps (default 0.1). */
  readonly bootstrapFraction?: number;
  /** Extra latency all initial ramps may add to a non-exiting input, as a fraction (default 0.02). */
  readonly rampBudget?: number;
  readonly seed?: number;
  readonly batchSizes?: readonly number[];
  readonly repeats?: number;
  readonly warmupRuns?: number;
  /** Serving inputs run through the chained segments to check the slices (default 64). */
  readonly sliceCheckSamples?: number;
  readonly onProgress?: (phase: string, done: number, total: number) => void;
  /** What the stream is, for the manifest's bootstrap record. @default the model's serving stream */
  readonly streamSource?: string;
}

export const DEFAULT_PREPARE = {
  bootstrapFraction: 0.1,
  rampBudget: RAMP_BUDGET.default,
  seed: 20261123,
  sliceCheckSamples: 64,
} as const;

/**
 * How much lower than its one screening reading a cut might truly cost, as a share of the plain
 * model: placement re-checks a passed-over cut that would be chosen that much cheaper
 * (confirm-placement.ts). One reading of a cut moved by about a point of the model between runs
 * on the two-core hosts this was measured on (docs/benchmarks.md, "Near misses").
 */
export const NEAR_MISS_SHARE = 0.01;

/** Two members whose validation agreement differs by less than this are treated as equally good. */
const AGREEMENT_TIE = 0.005;

interface TrainedMember {
  readonly member: RampMember;
  readonly ramp: TrainedRamp;
  readonly featureSize: number;
  costMs: number;
}

function membersFor(candidate: Candidate): readonly RampMember[] {
  return candidate.kind === 'image' ? IMAGE_MEMBERS : SEQUENCE_MEMBERS;
}

/** Checks the user's knobs before any long work starts. */
export function validatePrepareOptions(options: PrepareOptions): void {
  const fraction = options.bootstrapFraction ?? DEFAULT_PREPARE.bootstrapFraction;
  if (!(fraction > 0 && fraction < 1)) {
    throw new InputError(`bootstrap fraction must be in (0, 1), got ${fraction}`);
  }
  checkLimit(RAMP_BUDGET, options.rampBudget ?? DEFAULT_PREPARE.rampBudget);
}

/**
 * The member with the best validation agreement among those whose own work fits the budget;
 * near-ties go to the smaller feature vector. Work is counted in multiply-accumulates (reading the
 * activation to pool it, then the linear layer) as a share of the model's, not in measured time:
 * timings of sub-millisecond ramps jitter with the machine's load, and the same model should get
 * the same ramps every time it is prepared. Measured times still decide how many ramps the
 * initial placement admits. When none fits, the one with the least work is kept.
 */
export function chooseMember<
  T extends { ramp: { validationAgreement: number }; workFraction: number; featureSize: number },
>(members: readonly T[], budget: number): T {
  const fitting = members
    .filter((m) => m.workFraction <= budget)
    .sort((a, b) => a.featureSize - b.featureSize);
  if (fitting.length === 0) return [...members].sort((a, b) => a.workFraction - b.workFraction)[0] as T;
  const best = Math.max(...fitting.map((m) => m.ramp.validationAgreement));
  return fitting.find((m) => m.ramp.validationAgreement >= best - AGREEMENT_TIE) as T;
}

/** A trained ramp as attached to the model it reads. */
function rampAttachment(
  candidate: Candidate,
  member: RampMember,
  ramp: { readonly weights: Float32Array; readonly bias: Float32Array },
  analysis: GraphAnalysis,
): RampAttachment {
  return {
    activation: candidate.tensor,
    member,
    weights: ramp.weights,
    bias: ramp.bias,
    outputName: rampOutputName(candidate.id),
    attentionMask: analysis.attentionMask ?? null,
  };
}

async function checkSlices(
  model: LoadedModel,
  onnxModel: OnnxModel,
  analysis: GraphAnalysis,
  stream: DataSplit,
  samples: number,
  options: SessionOptions,
): Promise<number> {
  const segments = sliceModel(onnxModel, analysis, { candidateIds: analysis.candidates.map((c) => c.id) });
  const count = Math.min(samples, stream.count);
  const feeds = createBatchEncoder(model.spec).encode(
    Array.from({ length: count }, (_, i) => sampleAt(stream, i)),
  );
  const whole = await openSession(model.onnxPath, options);
  const sessions = await Promise.all(segments.map((s) => openSession(s.bytes, options)));
  try {
    const expected = await whole.run(feeds);
    const chained = await runChain(sessions, segments, feeds);
    const name = analysis.outputs[0] as string;
    return maxAbsDiff(expected[name]?.data ?? [], (chained[name]?.data as Float32Array | undefined) ?? []);
  } finally {
    await Promise.all([whole, ...sessions].map((s) => s.release()));
  }
}

/**
 * Runs the whole preparation for a model over its serving stream; pass `analysed` when the caller
 * has already read and analysed the ONNX file.
 */
export async function prepareModel(
  model: LoadedModel,
  stream: DataSplit,
  options: PrepareOptions = {},
  analysed?: { readonly onnxModel: OnnxModel; readonly analysis: GraphAnalysis },
): Promise<PreparedBundle> {
  validatePrepareOptions(options);
  const fraction = options.bootstrapFraction ?? DEFAULT_PREPARE.bootstrapFraction;
  const budget = options.rampBudget ?? DEFAULT_PREPARE.rampBudget;
  const seed = options.seed ?? DEFAULT_PREPARE.seed;
  const progress = (phase: string) => (done: number, total: number) =>
    options.onProgress?.(phase, done, total);
  const onnxModel = analysed?.onnxModel ?? (await readOnnxModel(model.onnxPath));
  const analysis =
    analysed?.analysis ??
    (await analyzeGraph(onnxModel, { inputShapes: inputShapesFromSpec(model.spec.inputs) }));
  const bootstrapCount = Math.round(stream.count * fraction);
  if (bootstrapCount < 20) {
    throw new InputError(
      `bootstrap fraction ${fraction} of a ${stream.count}-sample stream gives ${bootstrapCount} inputs; ramps need at least 20`,
    );
  }

  // Capture and train every (candidate, member) pair.
  const requests: FeatureRequest[] = analysis.candidates.flatMap((c) =>
    membersFor(c).map((member) => ({ candidateId: c.id, member })),
  );
  const captured = await captureBootstrapFeatures(
    onnxModel,
    model.spec,
    analysis,
    requests,
    stream,
    bootstrapCount,
    {
      ...options,
      onProgress: progress('capture bootstrap'),
    },
  );
  const trained = new Map<string, TrainedMember[]>();
  let done = 0;
  for (const request of requests) {
    const feature = captured.features.get(featureOutputName(request.candidateId, request.member));
    if (!feature) throw new Error(`no captured feature for ${request.candidateId}`);
    const ramp = trainRamp(
      {
        features: feature.values,
        labels: captured.predictions,
        count: captured.count,
        featureSize: feature.size,
        classes: model.spec.classes.length,
      },
      { seed },
    );
    const list = trained.get(request.candidateId) ?? [];
    list.push({ member: request.member, ramp, featureSize: feature.size, costMs: 0 });
    trained.set(request.candidateId, list);
    progress('train ramps')(++done, requests.length);
  }

  // Profile the all-candidates cut, with every member's ramp, on real inputs.
  const allIds = analysis.candidates.map((c) => c.id);
  const segments = sliceModel(onnxModel, analysis, { candidateIds: allIds });
  // Each candidate's own cut, as a config with that one ramp is served: where exit taps are
  // available (as the worker then serves), the whole model with the candidate's first ramp tapped,
  // charged what it adds beyond that ramp's operators; elsewhere the model cut there alone.
  const tapped = (options.executionProvider ?? 'cpu') === 'cpu' && exitTapState().available;
  const cuts: ProfiledCut[] = allIds.map((id, index) => {
    const first = trained.get(id)?.[0];
    if (tapped && first) {
      const candidate = analysis.candidates[index] as Candidate;
      return {
        id,
        tapped: tappedModel(onnxModel, analysis, [
          rampAttachment(candidate, first.member, first.ramp, analysis),
        ]),
        probs: rampOutputName(id),
        rampId: `${id}:${memberKey(first.member)}`,
      };
    }
    const [before, after] = sliceModel(onnxModel, analysis, { candidateIds: [id] }) as [
      (typeof segments)[number],
      (typeof segments)[number],
    ];
    return {
      id,
      before,
      after,
      floor: { bytes: passThroughModel(analysis, before.outputs), inputs: before.outputs, outputs: [] },
    };
  });
  const maskInput = analysis.attentionMask?.name;
  const profiledRamps: ProfiledRamp[] = analysis.candidates.flatMap((c) =>
    (trained.get(c.id) ?? []).map((t) => {
      const mask = poolsMean(t.member) ? maskInput : undefined;
      return {
        id: `${c.id}:${memberKey(t.member)}`,
        bytes: buildRampModel(c.shape, c.dtype, t.member, t.ramp.weights, t.ramp.bias, mask !== undefined),
        activation: c.tensor,
        ...(mask !== undefined ? { maskInput: mask } : {}),
        floor: emptyRunModel(analysis, [c.tensor, ...(mask !== undefined ? [mask] : [])]),
      };
    }),
  );
  const encoder = createBatchEncoder(model.spec);
  const feedsFor = (batchSize: number) =>
    encoder.encode(Array.from({ length: batchSize }, (_, i) => sampleAt(stream, i % stream.count)));
  const profileOptions: ProfileOptions = {
    ...options,
    onProgress: undefined,
    // Profiled as served: with the operator threads of the worker's default lanes unless asked
    // otherwise, so a cut is charged what it costs there (see core/inference/thread-layout.ts).
    intraOpThreads:
      options.intraOpThreads ?? defaultThreadLayout(options.executionProvider ?? 'cpu').intraOpThreads,
    // Run as the worker's inference threads run them, each run blocking (see `blocking`).
    blocking: true,
    ...(options.batchSizes ? { batchSizes: options.batchSizes } : {}),
    ...(options.repeats ? { repeats: options.repeats } : {}),
    ...(options.warmupRuns !== undefined ? { warmupRuns: options.warmupRuns } : {}),
  };
  const fullProfile = await profileLatency(
    { model: model.onnxPath, segments, ramps: profiledRamps, cuts },
    feedsFor,
    { ...profileOptions, onProgress: progress('profile') },
  );
  const slot = referenceIndex(fullProfile);
  const plainRef = fullProfile.plainMs[slot] as number;
  const chainRef = backboneMs(fullProfile, segments.length - 1, slot);

  // One ramp per candidate.
  const rampWeights = new Map<string, RampWeights>();
  const rampMs: Record<string, number[]> = {};
  const exitShares = new Map<string, number>();
  const heldOutInputs = new Map<string, number>();
  const observations = new Map<string, RampObservations>();
  const candidates: CandidateRecord[] = analysis.candidates.map((c, index) => {
    const members = trained.get(c.id) ?? [];
    const activationSize = c.shape.slice(1).reduce<number>((n, d) => n * (typeof d === 'number' ? d : 1), 1);
    const scored = members.map((m) => {
      m.costMs = fullProfile.rampMs[`${c.id}:${memberKey(m.member)}`]?.[slot] ?? 0;
      const macs = activationSize + m.featureSize * model.spec.classes.length;
      return Object.assign(m, { workFraction: analysis.totalMacs > 0 ? macs / analysis.totalMacs : 0 });
    });
    const chosen = chooseMember(scored, budget);
    const key = memberKey(chosen.member);
    rampWeights.set(c.id, { weights: chosen.ramp.weights, bias: chosen.ramp.bias });
    const latencyFraction = Math.min(1, backboneMs(fullProfile, index, slot) / chainRef);
    const feature = captured.features.get(featureOutputName(c.id, chosen.member));
    if (feature) {
      const observed = crossFittedObservations(
        {
          features: feature.values,
          labels: captured.predictions,
          count: captured.count,
          featureSize: feature.size,
          classes: model.spec.classes.length,
        },
        seed,
      );
      observations.set(c.id, observed);
      heldOutInputs.set(c.id, captured.count);
      exitShares.set(c.id, exitShare(observed, latencyFraction, DEFAULT_CONSTRAINT));
    }
    rampMs[c.id] = fullProfile.rampMs[`${c.id}:${key}`] ?? [];
    return {
      id: c.id,
      position: c.position,
      tensor: c.tensor,
      sideTensors: [...c.sideTensors],
      shape: [...c.shape],
      kind: c.kind,
      latencyFraction,
      ramp: {
        member: key,
        featureSize: chosen.featureSize,
        weightsFile: `ramps/${c.id}.f32`,
        validationAgreement: chosen.ramp.validationAgreement,
        trainAgreement: chosen.ramp.trainAgreement,
        ...(exitShares.has(c.id)
          ? { heldOutExitShare: exitShares.get(c.id), heldOutInputs: heldOutInputs.get(c.id) }
          : {}),
        alternatives: members.map((m) => ({
          member: memberKey(m.member),
          validationAgreement: m.ramp.validationAgreement,
          costMs: m.costMs,
        })),
      },
    };
  });

  // Backbone time is the plain model's time scaled by the candidate's latency fraction, and a
  // ramp's cost is its own time plus its own cut's measured cost, exactly as the controller's
  // cost model (`costProfileFromManifest`) has them.
  // The chosen cuts are then timed again together, in fresh rounds, charged what that measured,
  // and placement re-run until every placed cut has been measured so (confirm-placement.ts); a
  // checked cut's figures at the other batch sizes are scaled by what its check found.
  const cutCosts = cutCostsMs(fullProfile, allIds);
  const placeWith = (cutMs: ReadonlyMap<string, number>) =>
    chooseInitialRamps(
      candidates.map((c) => ({
        id: c.id,
        backboneMs: plainRef * c.latencyFraction,
        rampMs: (rampMs[c.id]?.[slot] ?? 0) + (cutMs.get(c.id) ?? 0),
        ...(exitShares.has(c.id)
          ? { exitShare: exitShares.get(c.id), heldOutInputs: heldOutInputs.get(c.id) }
          : {}),
        ...(observations.has(c.id) ? { observations: observations.get(c.id) } : {}),
      })),
      plainRef,
      budget,
    );
  const referenceFeeds = feedsFor(fullProfile.referenceBatchSize);
  // The whole model's optimised graph, which every tapped set is compared with: made once.
  let wholeGraph: ReturnType<typeof optimisedGraph> | undefined;
  options.onProgress?.('confirm placement', 0, 1);
  const confirmed = await confirmPlacement(
    allIds,
    new Map(allIds.map((id) => [id, cutCosts.get(id)?.[slot] ?? 0])),
    (cutMs) => placeWith(cutMs).chosen,
    async (chosenIds) =>
      fullProfile.cutTiming === 'tap'
        ? timeTapSet(
            model.onnxPath,
            await (wholeGraph ??= optimisedGraph(model.onnxPath, profileOptions)),
            tappedModel(
              onnxModel,
              analysis,
              chosenIds.map((id) => {
                const candidate = analysis.candidates.find((c) => c.id === id) as Candidate;
                const record = candidates.find((c) => c.id === id) as CandidateRecord;
                const weights = rampWeights.get(id) as RampWeights;
                return rampAttachment(candidate, parseMemberKey(record.ramp.member), weights, analysis);
              }),
            ),
            chosenIds.map(rampOutputName),
            referenceFeeds,
            chosenIds.reduce((sum, id) => sum + (rampMs[id]?.[slot] ?? 0), 0),
            profileOptions,
          )
        : timeCutSet(
            model.onnxPath,
            sliceModel(onnxModel, analysis, { candidateIds: chosenIds }),
            referenceFeeds,
            profileOptions,
          ),
    { slackMs: NEAR_MISS_SHARE * plainRef },
  );
  options.onProgress?.('confirm placement', 1, 1);
  const placement = placeWith(confirmed.cutMs);
  const checkedIds = new Set(confirmed.checks.flatMap((check) => check.ids));
  const cutMs = Object.fromEntries(
    allIds.map((id) => [
      id,
      scaleToConfirmed(
        cutCosts.get(id) ?? [],
        slot,
        checkedIds.has(id) ? confirmed.cutMs.get(id) : undefined,
      ),
    ]),
  );
  const sliceSamples = options.sliceCheckSamples ?? DEFAULT_PREPARE.sliceCheckSamples;
  options.onProgress?.('check slices', 0, 1);
  const sliceDiff = await checkSlices(model, onnxModel, analysis, stream, sliceSamples, options);
  options.onProgress?.('check slices', 1, 1);

  const manifest: BundleManifest = {
    formatVersion: BUNDLE_FORMAT_VERSION,
    createdAt: new Date().toISOString(),
    model: { name: model.spec.name, sha256: model.spec.sha256, file: 'model.onnx', spec: model.spec },
    bootstrap: {
      fraction,
      samples: bootstrapCount,
      seed,
      source: `${options.streamSource ?? `serving stream of ${model.spec.dataset ?? 'the model'}`}: samples 0-${bootstrapCount - 1}`,
    },
    rampBudget: budget,
    latestUsefulCandidate:
      placement.latestUseful === null ? null : (candidates[placement.latestUseful]?.id ?? null),
    candidates,
    profile: {
      ...fullProfile,
      rampMs,
      cutMs,
      ...(confirmed.checks.length > 0
        ? { placementChecks: confirmed.checks.map((check) => ({ ...check, ids: [...check.ids] })) }
        : {}),
    },
    sliceCheck: { samples: Math.min(sliceSamples, stream.count), maxAbsDiff: sliceDiff },
    initialConfig: {
      version: 0,
      ramps: placement.chosen.map((index) => ({ id: candidates[index]?.id as string, threshold: 0 })),
    },
    ...(placement.expectedRelease !== undefined
      ? { initialRelease: { share: placement.expectedRelease, agreement: PLACEMENT_AGREEMENT } }
      : {}),
  };
  return { manifest, modelPath: model.onnxPath, rampWeights };
}
