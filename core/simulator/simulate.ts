/**
 * `simulate`: replays a prepared model's serving stream under each requested policy with the same
 * arrivals and the same batching policy, and summarises latency, agreement, drops and throughput
 * side by side. The plain model always runs too: every win is measured against it in the same run.
 */
import type { LoadedBundle } from '../bundle/bundle-io';
import { costProfileFromManifest } from '../bundle/cost-profile';
import { createBatchingPolicy } from '../batching/create-policy';
import type { BatchFill } from '../batching/clockwork';
import type { BatchingPolicy, BatchingPolicyName } from '../batching/policy';
import type { ControllerOptions } from '../control/controller';
import { costsAtBatch, type CostProfile } from '../control/costs';
import { windowFromPredictions, type ExitWindow } from '../control/records';
import type { DataSplit } from '../data/dataset';
import type { DriftKind } from './drift';
import { summarise, winsVersus, servedLatencies, type PolicySummary } from './metrics';
import { observeStream } from './observations';
import { replay, type RequestOutcome, type ServingPolicy } from './replay';
import {
  apparatePolicy,
  onlineOptimalPolicy,
  optimalPolicy,
  staticPolicy,
  plainPolicy,
  type ServingPolicyName,
} from './serving-policies';
import { buildWorkload, type TraceSelection } from './workload';

export interface SimulateOptions {
  readonly policies: readonly ServingPolicyName[];
  readonly load: number;
  readonly batching: BatchingPolicyName;
  /** How the clockwork policy fills a batch (core/batching/clockwork.ts); default `largest`. */
  readonly batchFill?: BatchFill;
  /** Default: twice the plain model's latency at the largest profiled batch size. */
  readonly sloMs?: number;
  /** Least agreement with the full model the control loops hold (the accuracy constraint). */
  readonly accuracyConstraint: number;
  readonly drift: DriftKind;
  readonly trace?: TraceSelection;
  readonly seed: number;
  /** Ramp budget for the online baselines (default: the bundle's). */
  readonly rampBudget?: number;
  /** Overrides of the online controller's knobs, for experiments. */
  readonly controller?: Partial<ControllerOptions>;
  readonly onProgress?: (phase: string, done: number, total: number) => void;
}

export interface PolicyResult extends PolicySummary {
  readonly winsVsPlainPct: { p25: number; p50: number; p95: number };
  /** Share of the offline optimal's median saving this policy reaches (null when optimal was not run). */
  readonly fractionOfOptimal: number | null;
  readonly throughputRatio: number;
  readonly thresholdUpdates: number;
  readonly rampChanges: number;
}

export interface SimulationResult {
  readonly model: string;
  readonly settings: {
    readonly workload: string;
    readonly batching: BatchingPolicyName;
    readonly batchFill: BatchFill;
    readonly sloMs: number;
    readonly accuracyConstraint: number;
    readonly drift: DriftKind;
    readonly seed: number;
    readonly requests: number;
    readonly bootstrapInputs: number;
  };
  readonly policies: readonly PolicyResult[];
  /** Per policy, latencies of served requests (ms), for CDF plots. */
  readonly latencies: Readonly<Record<string, number[]>>;
  /** Per policy, served requests' agreement flags in arrival order, and config-change times. */
  readonly timelines: Readonly<
    Record<string, { agrees: boolean[]; releaseAtMs: number[]; configChangesMs: readonly number[] }>
  >;
}

/** Default SLO: twice the plain model's time for the largest profiled batch. */
export function defaultSloMs(profile: CostProfile): number {
  return 2 * costsAtBatch(profile, profile.batchSizes.at(-1) ?? 1).plainMs;
}

function batchingFor(
  name: BatchingPolicyName,
  profile: CostProfile,
  serving: ServingPolicy,
  fill: BatchFill,
): BatchingPolicy {
  if (name === 'clockwork') {
    return createBatchingPolicy({
      name,
      latencyMs: (size) => serving.plannedBatchMs(size),
      batchSizes: profile.batchSizes,
      fill,
    });
  }
  // Wait at most half a batch-of-8 run for a fuller batch: long enough to batch under load, short
  // enough not to dominate latency at low load.
  return createBatchingPolicy({
    name,
    maxBatchSize: 8,
    batchTimeoutMs: costsAtBatch(profile, 8).plainMs / 2,
    maxQueuedBatches: 4,
    batchSizes: profile.batchSizes,
  });
}

function servingPolicy(
  name: ServingPolicyName,
  all: ExitWindow,
  profile: CostProfile,
  bundle: LoadedBundle,
  bootstrap: readonly number[],
  options: SimulateOptions,
): ServingPolicy {
  const rampBudget = options.rampBudget ?? bundle.manifest.rampBudget;
  switch (name) {
    case 'plain':
      return plainPolicy(profile);
    case 'optimal':
      return optimalPolicy(all, profile);
    case 'static':
      return staticPolicy(all, profile, bootstrap, options.accuracyConstraint);
    case 'online-optimal':
      return onlineOptimalPolicy(all, profile, { constraint: options.accuracyConstraint, rampBudget });
    case 'apparate':
      return apparatePolicy(all, profile, bundle.manifest.initialConfig, {
        constraint: options.accuracyConstraint,
        rampBudget,
        latestUsefulCandidate: bundle.manifest.latestUsefulCandidate,
        ...(options.controller ? { controller: options.controller } : {}),
      });
  }
}

/** Runs the simulation of every requested policy (plus the plain model). */
export async function simulate(
  bundle: LoadedBundle,
  stream: DataSplit,
  options: SimulateOptions,
): Promise<SimulationResult> {
  const profile = costProfileFromManifest(bundle.manifest);
  const observations = await observeStream(bundle, stream, {
    drift: options.drift,
    seed: options.seed,
    onProgress: (done, total) => options.onProgress?.('observe stream', done, total),
  });
  const all = windowFromPredictions(observations);
  const bootstrapCount = bundle.manifest.bootstrap.samples;
  const bootstrap = Array.from({ length: bootstrapCount }, (_, i) => i);
  const workload = await buildWorkload(profile, bootstrapCount, stream.count, {
    load: options.load,
    seed: options.seed,
    ...(options.trace ? { trace: options.trace } : {}),
  });
  const sloMs = options.sloMs ?? defaultSloMs(profile);
  const batchFill = options.batchFill ?? 'largest';
  const names: ServingPolicyName[] = ['plain', ...options.policies.filter((p) => p !== 'plain')];
  const outcomes = new Map<string, { outcomes: RequestOutcome[]; serving: ServingPolicy }>();
  names.forEach((name, index) => {
    const serving = servingPolicy(name, all, profile, bundle, bootstrap, options);
    const result = replay({
      arrivalsMs: workload.arrivalsMs,
      streamIndex: workload.streamIndex,
      sloMs,
      batching: batchingFor(options.batching, profile, serving, batchFill),
      serving,
    });
    outcomes.set(name, { outcomes: result, serving });
    options.onProgress?.('replay policies', index + 1, names.length);
  });

  const summaries = new Map(names.map((name) => [name, summarise(name, outcomes.get(name)?.outcomes ?? [])]));
  const plain = summaries.get('plain') as PolicySummary;
  const optimal = summaries.get('optimal');
  const policies: PolicyResult[] = names
    .filter((name) => name !== 'plain' || options.policies.includes('plain'))
    .map((name) => {
      const summary = summaries.get(name) as PolicySummary;
      const counters = outcomes.get(name)?.serving.counters();
      const optimalSaving = optimal ? plain.latencyMs.p50 - optimal.latencyMs.p50 : 0;
      return {
        ...summary,
        winsVsPlainPct: winsVersus(summary.latencyMs, plain.latencyMs),
        fractionOfOptimal:
          optimal && optimalSaving > 0 ? (plain.latencyMs.p50 - summary.latencyMs.p50) / optimalSaving : null,
        throughputRatio: summary.throughputRps / plain.throughputRps,
        thresholdUpdates: counters?.thresholdUpdates ?? 0,
        rampChanges: counters?.rampChanges ?? 0,
      };
    });
  const latencies: Record<string, number[]> = {};
  const timelines: Record<
    string,
    { agrees: boolean[]; releaseAtMs: number[]; configChangesMs: readonly number[] }
  > = {};
  for (const [name, { outcomes: list, serving }] of outcomes) {
    latencies[name] = servedLatencies(list);
    const served = list.filter((o) => o.releaseAtMs !== undefined);
    timelines[name] = {
      agrees: served.map((o) => o.agrees === true),
      releaseAtMs: served.map((o) => o.releaseAtMs as number),
      configChangesMs: serving.counters().configChanges,
    };
  }
  return {
    model: bundle.manifest.model.name,
    settings: {
      workload: workload.description,
      batching: options.batching,
      batchFill,
      sloMs,
      accuracyConstraint: options.accuracyConstraint,
      drift: options.drift,
      seed: options.seed,
      requests: workload.arrivalsMs.length,
      bootstrapInputs: bootstrapCount,
    },
    policies,
    latencies,
    timelines,
  };
}
