/**
 * One fixture model's part of the end-to-end evaluation: its prepared bundle, serving stream,
 * all-candidate observations, static config and measured capacity, and how one policy is served
 * over planned requests on the real worker and recorded.
 */
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { readBundle, type LoadedBundle } from '../../core/bundle/bundle-io';
import { resolveThreadLayout, type ThreadLayout } from '../../core/inference/thread-layout';
import type { RampConfig } from '../../core/control/ramp-config';
import { windowFromPredictions, type ExitWindow } from '../../core/control/records';
import { sampleAt, type DataSplit } from '../../core/data/dataset';
import type { RequestOutcome } from '../../core/simulator/replay';
import { observeStream } from '../../core/simulator/observations';
import { maxOf, median } from '../../core/util/stats';
import { loadFixtureModel, loadModelData } from '../../core/zoo/fixtures';
import { ensureBundle } from './bundles';
import { runOutcomes, type RunFigures } from './metrics';
import { initialConfigFor, PLAIN_CONFIG, staticConfig, type PolicyName } from './policies';
import type { CpuPerRequest, LatencyParts, RunRecord } from './results';
import { layoutOf, type EvalSettings } from './settings';
import { requestInput, type PlannedRequest } from './workload';
import type { CapacityResult } from './capacity';
import { CAPACITY_READINGS, measureServedCapacity } from './served-capacity';
import { ServingProcess } from './serving-client';
import { serveInTurns, sliceBounds } from './slices';
import { runServing, ServingRun, type ServingRunOptions, type ServingRunResult } from './worker-run';

/** Warm-up requests served before each run's clock starts. */
const WARMUP_REQUESTS = 64;

export type Log = (line: string) => void;

export interface ModelContext {
  readonly name: string;
  readonly bundle: LoadedBundle;
  readonly stream: DataSplit;
  readonly all: ExitWindow;
  readonly staticConfig: RampConfig;
  /** The capacity the loads are fractions of (`settings.loadBasis`). */
  readonly capacity: CapacityResult;
  /** Both measurements: the worker's alone, and through the client's channel. */
  readonly capacities: { readonly worker: CapacityResult; readonly served: CapacityResult };
  readonly profileLargestMs: number;
  readonly warmup: ReturnType<typeof requestInput>[];
  readonly preparedSeconds: number;
}

export interface ServedPolicy {
  readonly run: ServingRunResult;
  readonly outcomes: RequestOutcome[];
  readonly configChanges: number;
  /** The ramp sets served in turn, the initial first: each change makes the worker build and warm new sessions. */
  readonly rampSets: string[][];
  /** Median time from a config's publication to the first batch served under it, ms. */
  readonly configLagMs: number | null;
}

/** The ramp sets a run served in turn, the initial one first; consecutive repeats are one. */
function rampSets(initial: RampConfig, run: ServingRunResult): string[][] {
  const sets = [initial.ramps.map((r) => r.id)];
  for (const publication of run.published) {
    if (publication.rampIds.join(',') !== (sets[sets.length - 1] as string[]).join(','))
      sets.push([...publication.rampIds]);
  }
  return sets;
}

function configLagMs(run: ServingRunResult): number | null {
  const lags = run.applied.flatMap((applied) => {
    const published = run.published.find((p) => p.version === applied.version);
    return published === undefined ? [] : [applied.atMs - published.atMs];
  });
  return lags.length > 0 ? median(lags) : null;
}

/** A run's CPU time per request it answered (dropped ones included: they were queued too). */
export function cpuPerRequest(run: ServingRunResult): CpuPerRequest | null {
  if (run.cpu === null || run.requests.length === 0) return null;
  const n = run.requests.length;
  return {
    main: run.cpu.mainMs / n,
    lanes: run.cpu.lanesMs / n,
    other: run.cpu.otherMs / n,
    client: run.cpu.clientMs / n,
  };
}

/**
 * Share of the rows a run's batches ran that were padding: batches are padded up to the profiled
 * sizes, so a batch of 5 runs as 8, and a queue that drifts into such sizes makes every request
 * dearer on the lanes (docs/evaluation.md, "Where the cores go").
 */
export function paddingShare(run: ServingRunResult): number {
  let padded = 0;
  let real = 0;
  for (const batch of run.batches) {
    padded += batch.paddedSize;
    real += batch.requests.length;
  }
  return padded > 0 ? (padded - real) / padded : 0;
}

/** Requests per served batch over a run. */
export function meanBatchSize(run: ServingRunResult): number {
  const requests = run.batches.reduce((sum, batch) => sum + batch.requests.length, 0);
  return run.batches.length > 0 ? requests / run.batches.length : 0;
}

export function machine(asked: ThreadLayout = {}): Record<string, string | number> {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    const lscpu = execFileSync('lscpu', { encoding: 'utf8' });
    cpu = /Model name:\s*(.+)/.exec(lscpu)?.[1]?.trim() ?? cpu;
  } catch {
    // lscpu is missing on some systems; the Node report is enough then.
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ort = (require('onnxruntime-node/package.json') as { version: string }).version;
  const layout = resolveThreadLayout(asked, 'cpu');
  return {
    cpu,
    cpus: cpus().length,
    /** The serving process's layout: inference threads side by side, operator threads each. */
    threads: `${layout.inferenceThreads} inference x ${layout.intraOpThreads} operator`,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    onnxruntimeNode: ort,
    platform: `${process.platform} ${process.arch}`,
  };
}

/** The serving run one policy gets over the planned requests. */
function policyRun(
  context: ModelContext,
  policy: Exclude<PolicyName, 'optimal'>,
  planned: readonly PlannedRequest[],
  sloMs: number,
  settings: EvalSettings,
  rampBudget?: number,
): ServingRunOptions {
  const budget = rampBudget ?? context.bundle.manifest.rampBudget;
  const config =
    policy === 'plain'
      ? PLAIN_CONFIG
      : policy === 'static'
        ? context.staticConfig
        : initialConfigFor(context.bundle, budget);
  return {
    bundleDir: context.bundle.dir,
    model: context.name,
    config,
    requests: planned,
    sloMs,
    configPollMs: settings.configPollMs,
    warmupInputs: context.warmup,
    layout: layoutOf(settings),
    ...(policy === 'apparate'
      ? {
          controller: {
            constraint: settings.constraint,
            rampBudget: budget,
            adjustPeriodBatches: settings.adjustPeriodBatches,
          },
        }
      : {}),
  };
}

function servedPolicy(
  options: ServingRunOptions,
  run: ServingRunResult,
  planned: readonly PlannedRequest[],
): ServedPolicy {
  return {
    run,
    outcomes: runOutcomes(run, planned),
    configChanges: run.applied.length,
    rampSets: rampSets(options.config, run),
    configLagMs: configLagMs(run),
  };
}

/** Serves one policy over the planned requests, alone on the machine (arguments as `policyRun`). */
export async function servePolicy(...args: Parameters<typeof policyRun>): Promise<ServedPolicy> {
  const options = policyRun(...args);
  return servedPolicy(options, await runServing(options), options.requests);
}

/**
 * Serves several policies over the same planned requests, in the order given. With
 * `settings.sliceSeconds` > 0 every policy's worker is started first and the policies take turns
 * slice by slice (slices.ts), the order rotating per slice; otherwise each serves the whole run
 * in turn, as runs before the evening of 6 December 2026 did.
 */
export async function servePolicies(
  context: ModelContext,
  policies: readonly Exclude<PolicyName, 'optimal'>[],
  planned: readonly PlannedRequest[],
  sloMs: number,
  settings: EvalSettings,
): Promise<Map<string, ServedPolicy>> {
  const served = new Map<string, ServedPolicy>();
  if (settings.sliceSeconds <= 0) {
    for (const policy of policies)
      served.set(policy, await servePolicy(context, policy, planned, sloMs, settings));
    return served;
  }
  const options = policies.map((policy) => policyRun(context, policy, planned, sloMs, settings));
  const runs: ServingRun[] = [];
  try {
    for (const option of options) runs.push(await ServingRun.start(option));
    const results = await serveInTurns(runs, sliceBounds(planned, settings.sliceSeconds * 1000));
    policies.forEach((policy, i) =>
      served.set(
        policy,
        servedPolicy(options[i] as ServingRunOptions, results[i] as ServingRunResult, planned),
      ),
    );
    return served;
  } finally {
    for (const run of runs) run.kill();
  }
}

export function runRecord(
  context: ModelContext,
  policy: PolicyName,
  figures: RunFigures,
  cell: { load: number; sloMultiplier: number; sloMs: number; repeat: number },
  extra: {
    requests: number;
    labelAccuracy: number;
    configChanges: number;
    configLagMs: number | null;
    rampSets: string[][];
    meanBatchSize: number;
    paddingShare: number;
    cpuMsPerRequest: CpuPerRequest | null;
    latencyParts: LatencyParts | null;
  },
): RunRecord {
  return {
    model: context.name,
    policy,
    ...cell,
    requests: extra.requests,
    served: figures.served,
    dropped: figures.dropped,
    latencyMs: figures.latencyMs,
    winsVsPlainPct: figures.winsVsPlainPct,
    agreement: figures.agreement,
    worstWindowAgreement: figures.worstWindowAgreement,
    labelAccuracy: extra.labelAccuracy,
    exitRate: figures.exitRate,
    throughputRps: figures.throughputRps,
    throughputRatio: figures.throughputRatio,
    fractionOfOptimal: figures.fractionOfOptimal,
    configChanges: extra.configChanges,
    configLagMs: extra.configLagMs,
    rampChanges: Math.max(0, extra.rampSets.length - 1),
    rampSets: extra.rampSets,
    meanBatchSize: extra.meanBatchSize,
    paddingShare: extra.paddingShare,
    cpuMsPerRequest: extra.cpuMsPerRequest,
    latencyParts: extra.latencyParts,
  };
}

export async function prepareContext(name: string, settings: EvalSettings, log: Log): Promise<ModelContext> {
  const prepared = await ensureBundle(name, settings.bundlesDir, log);
  const bundle = await readBundle(prepared.dir);
  const stream = await loadModelData(await loadFixtureModel(name), 'serving');
  log(`${name}: observing every candidate over the serving stream (cached in the bundle)`);
  const observations = await observeStream(bundle, stream, { seed: settings.seed });
  const all = windowFromPredictions(observations);
  const bootstrap = bundle.manifest.bootstrap.samples;
  const served = Array.from({ length: Math.min(2000, stream.count - bootstrap) }, (_, i) =>
    requestInput(sampleAt(stream, bootstrap + i)),
  );
  const { profile } = bundle.manifest;
  const largest = maxOf(profile.batchSizes);
  const capacityInputs = {
    bundleDir: prepared.dir,
    model: name,
    inputs: served,
    largestBatchSize: largest,
    layout: layoutOf(settings),
  };
  const worker = await ServingProcess.capacity({ ...capacityInputs, seconds: settings.capacitySeconds });
  const throughClient = await measureServedCapacity({
    ...capacityInputs,
    seconds: settings.capacitySeconds,
    warmupInputs: served.slice(0, WARMUP_REQUESTS),
    readings: CAPACITY_READINGS,
  });
  const capacity = settings.loadBasis === 'served' ? throughClient : worker;
  const profileLargestMs = profile.plainMs[profile.batchSizes.indexOf(largest)] as number;
  log(
    `${name}: capacity ${throughClient.rps.toFixed(0)} req/s through the client (best of ${(throughClient.readingsRps ?? [throughClient.rps]).map((r) => r.toFixed(0)).join(', ')}), ${worker.rps.toFixed(0)} req/s the worker alone; loads are fractions of the ${settings.loadBasis === 'served' ? 'first' : 'second'} (batch ${largest}: ${capacity.largestBatchMs.toFixed(1)} ms measured, ${profileLargestMs.toFixed(1)} ms profiled)`,
  );
  return {
    name,
    bundle,
    stream,
    all,
    staticConfig: staticConfig(bundle, all, settings.constraint),
    capacity,
    capacities: { worker, served: throughClient },
    profileLargestMs,
    warmup: served.slice(0, WARMUP_REQUESTS),
    preparedSeconds: prepared.preparedSeconds,
  };
}
