/**
 * One worker's behaviour at one offered rate, measured with the project's own per-worker replay:
 * Poisson arrivals at the rate, the worker's batching policy, and either the plain model or
 * Apparate with its control loops running online at an agreement constraint. The fleet profiles
 * are made of these points, so the fleet simulator inherits the batching, queueing and exit
 * behaviour the single-worker simulator was checked on.
 */
import { createBatchingPolicy } from '../batching/create-policy';
import type { LoadedBundle } from '../bundle/bundle-io';
import type { DataSplit } from '../data/dataset';
import { windowFromPredictions } from '../control/records';
import { chooseInitialRamps, heldOutOf } from '../prepare/initial-config';
import { observeStream } from '../simulator/observations';
import type { RampConfig } from '../control/ramp-config';
import { costsAtBatch, type CostProfile } from '../control/costs';
import type { ExitWindow } from '../control/records';
import { replay } from '../simulator/replay';
import { apparatePolicy, plainPolicy } from '../simulator/serving-policies';
import { quantile } from '../util/stats';
import { poissonArrivals } from '../workload/arrivals';
import { histogramOf } from './latency-histogram';
import type { CurvePoint, ExitSetting } from './variant-profile';

/** What the measurement needs from a prepared variant. */
export interface WorkerModel {
  readonly profile: CostProfile;
  /** Every candidate's agreement and confidence over the serving stream. */
  readonly all: ExitWindow;
  /** Per candidate, its ramp's prediction per stream input; and the full model's. */
  readonly prediction: readonly ArrayLike<number>[];
  readonly finalPrediction: ArrayLike<number>;
  readonly labels: ArrayLike<number>;
  /** Stream inputs before this index trained the ramps and are never served here. */
  readonly firstServed: number;
  readonly initialConfig: RampConfig;
  readonly rampBudget: number;
  readonly latestUsefulCandidate: string | null;
}

export interface WorkerRunOptions {
  readonly rateRps: number;
  readonly exits: ExitSetting;
  readonly sloMs: number;
  /** TF-Serving-like batching: largest batch (the worker's default is 8). */
  readonly maxBatchSize: number;
  /** Passes over the served stream; only the last pass is measured (the control loops warm up first). */
  readonly passes: number;
  readonly seed: number;
}

export interface WorkerRun extends CurvePoint {
  readonly accuracy: number;
  readonly agreement: number;
  readonly exitRate: number;
}

/**
 * A variant's worker model from its prepared bundle and serving stream, on a given latency
 * profile (the profiler's rescaled one). The initial ramps are placed again on that profile, as
 * `apparate prepare` places them on its own, so placement and replay see the same costs.
 */
export async function workerModelFromBundle(
  bundle: LoadedBundle,
  stream: DataSplit,
  profile: CostProfile,
  seed: number,
): Promise<WorkerModel> {
  const ref = Math.max(0, profile.batchSizes.indexOf(profile.referenceBatchSize));
  const ramps = new Map(bundle.manifest.candidates.map((c) => [c.id, c.ramp]));
  const placement = chooseInitialRamps(
    profile.candidates.map((c) => {
      const ramp = ramps.get(c.id);
      return {
        id: c.id,
        backboneMs: c.backboneMs[ref] as number,
        rampMs: c.rampMs[ref] as number,
        ...(ramp ? heldOutOf(ramp) : {}),
      };
    }),
    profile.plainMs[ref] as number,
    bundle.manifest.rampBudget,
  );
  const observations = await observeStream(bundle, stream, { drift: 'none', seed });
  const ids = profile.candidates.map((c) => c.id);
  return {
    profile,
    all: windowFromPredictions(observations),
    prediction: observations.prediction,
    finalPrediction: observations.finalPrediction,
    labels: stream.labels,
    firstServed: bundle.manifest.bootstrap.samples,
    initialConfig: {
      version: 0,
      ramps: placement.chosen.map((index) => ({ id: ids[index] as string, threshold: 0 })),
    },
    rampBudget: bundle.manifest.rampBudget,
    latestUsefulCandidate: placement.latestUseful === null ? null : (ids[placement.latestUseful] ?? null),
  };
}

/** Replays one worker at one rate and summarises the measured (last) pass. */
export function measureWorker(model: WorkerModel, options: WorkerRunOptions): WorkerRun {
  const { profile } = model;
  const served = model.all.count - model.firstServed;
  const total = served * options.passes;
  const arrivalsMs = poissonArrivals(options.rateRps, { count: total }, options.seed);
  const serving =
    options.exits === 'off'
      ? plainPolicy(profile)
      : apparatePolicy(model.all, profile, model.initialConfig, {
          constraint: options.exits.constraint,
          rampBudget: model.rampBudget,
          latestUsefulCandidate: model.latestUsefulCandidate,
        });
  const batching = createBatchingPolicy({
    name: 'tfserving',
    maxBatchSize: options.maxBatchSize,
    // Wait at most half a full batch's run for a fuller batch, as the single-worker simulator does.
    batchTimeoutMs: costsAtBatch(profile, options.maxBatchSize).plainMs / 2,
    maxQueuedBatches: 4,
    batchSizes: profile.batchSizes.filter((b) => b <= options.maxBatchSize),
  });
  const streamIndex = (i: number) => model.firstServed + (i % served);
  const outcomes = replay({ arrivalsMs, streamIndex, sloMs: options.sloMs, batching, serving });
  const measured = outcomes.slice(total - served);
  const latencies: number[] = [];
  let late = 0;
  let dropped = 0;
  let correct = 0;
  let agree = 0;
  let exited = 0;
  for (const o of measured) {
    if (o.releaseAtMs === undefined) {
      dropped++;
      continue;
    }
    const latency = o.releaseAtMs - o.arrivalMs;
    latencies.push(latency);
    if (latency > options.sloMs) late++;
    const exitAt = o.exitAt ?? -1;
    if (exitAt >= 0) exited++;
    if (o.agrees) agree++;
    const released =
      exitAt >= 0
        ? (model.prediction[exitAt]?.[o.streamIndex] as number)
        : (model.finalPrediction[o.streamIndex] as number);
    if (released === model.labels[o.streamIndex]) correct++;
  }
  const first = measured[0]?.arrivalMs ?? 0;
  const last = measured[measured.length - 1]?.arrivalMs ?? first;
  const spanS = Math.max(1e-9, (last - first) / 1000);
  const n = Math.max(1, latencies.length);
  return {
    rateRps: options.rateRps,
    violationPct: (100 * (late + dropped)) / Math.max(1, measured.length),
    throughputRps: latencies.length / spanS,
    latencyMs: {
      p50: quantile(latencies, 0.5),
      p95: quantile(latencies, 0.95),
      p99: quantile(latencies, 0.99),
    },
    histogram: histogramOf(latencies),
    droppedPct: (100 * dropped) / Math.max(1, measured.length),
    accuracy: correct / n,
    agreement: agree / n,
    exitRate: exited / n,
  };
}
