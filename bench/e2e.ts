/**
 * `npm run bench -- e2e [--quick]`: the end-to-end evaluation on the real worker (not the
 * simulator). For each fixture model it prepares the bundle when missing, measures the plain
 * model's capacity on this machine, then serves Twitter-trace arrivals at each load and SLO with
 * the plain model, Apparate (the online controller following the worker's batch reports through
 * an in-memory config store) and static early exit, repeat by repeat, and adds the offline
 * optimal over the plain run's own batches. Then the ramp-budget ablation (Apparate at the
 * highest load) and a run whose inputs grow noisy. Results, plots and tables go to
 * `docs/evaluation/` (or `--out`); see `docs/evaluation.md` for the reading of them.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { readBundle, type LoadedBundle } from '../core/bundle/bundle-io';
import type { RampConfig } from '../core/bundle/manifest';
import { windowFromPredictions, type ExitWindow } from '../core/control/records';
import { sampleAt, type DataSplit } from '../core/data/dataset';
import type { RequestOutcome } from '../core/simulator/replay';
import { observeStream } from '../core/simulator/observations';
import { maxOf, median, minOf } from '../core/util/stats';
import { loadFixtureModel, loadModelData } from '../core/zoo/fixtures';
import { ensureBundle } from './eval/bundles';
import { ablationChart, driftChart, latencyCdfChart, winsPerLoadChart } from './eval/charts';
import { labelAccuracy, optimalOutcomes, repeatFigures, runOutcomes, type RunFigures } from './eval/metrics';
import { initialConfigFor, liveApparate, PLAIN_CONFIG, staticConfig, type PolicyName } from './eval/policies';
import { aggregateRuns, summaryRecords, type Cell, type RunRecord } from './eval/results';
import { ablationTable, driftTable, mainTable, type AblationRow, type DriftRow } from './eval/tables';
import { parseEvalArgs, type EvalSettings } from './eval/settings';
import { defaultTracePath, noisyShareAt, plannedArrivals, planRequests, requestInput } from './eval/workload';
import type { PlannedRequest } from './eval/workload';
import { measureCapacity, runServing, type CapacityResult, type ServingRunResult } from './eval/worker-run';
import type { Benchmark } from './run';

/** Warm-up requests served before each run's clock starts. */
const WARMUP_REQUESTS = 64;

type Log = (line: string) => void;

interface ModelContext {
  readonly name: string;
  readonly bundle: LoadedBundle;
  readonly stream: DataSplit;
  readonly all: ExitWindow;
  readonly staticConfig: RampConfig;
  readonly capacity: CapacityResult;
  readonly profileLargestMs: number;
  readonly warmup: ReturnType<typeof requestInput>[];
  readonly preparedSeconds: number;
}

interface ServedPolicy {
  readonly run: ServingRunResult;
  readonly outcomes: RequestOutcome[];
  readonly configChanges: number;
  /** Median time from a config's publication to the first batch served under it, ms. */
  readonly configLagMs: number | null;
}

function configLagMs(run: ServingRunResult): number | null {
  const lags = run.applied.flatMap((applied) => {
    const published = run.published.find((p) => p.version === applied.version);
    return published === undefined ? [] : [applied.atMs - published.atMs];
  });
  return lags.length > 0 ? median(lags) : null;
}

function machine(): Record<string, string | number> {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    const lscpu = execFileSync('lscpu', { encoding: 'utf8' });
    cpu = /Model name:\s*(.+)/.exec(lscpu)?.[1]?.trim() ?? cpu;
  } catch {
    // lscpu is missing on some systems; the Node report is enough then.
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ort = (require('onnxruntime-node/package.json') as { version: string }).version;
  return {
    cpu,
    cpus: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    onnxruntimeNode: ort,
    platform: `${process.platform} ${process.arch}`,
  };
}

/** Serves one policy over the planned requests. */
async function servePolicy(
  context: ModelContext,
  policy: Exclude<PolicyName, 'optimal'>,
  planned: readonly PlannedRequest[],
  sloMs: number,
  settings: EvalSettings,
  rampBudget?: number,
): Promise<ServedPolicy> {
  const budget = rampBudget ?? context.bundle.manifest.rampBudget;
  const apparate =
    policy === 'apparate'
      ? liveApparate(context.bundle, initialConfigFor(context.bundle, budget), {
          constraint: settings.constraint,
          rampBudget: budget,
          adjustPeriodBatches: settings.adjustPeriodBatches,
        })
      : undefined;
  const config =
    policy === 'plain'
      ? PLAIN_CONFIG
      : policy === 'static'
        ? context.staticConfig
        : initialConfigFor(context.bundle, budget);
  const run = await runServing({
    bundleDir: context.bundle.dir,
    model: context.name,
    config,
    requests: planned,
    sloMs,
    configPollMs: settings.configPollMs,
    warmupInputs: context.warmup,
    ...(apparate === undefined ? {} : { controller: apparate }),
  });
  return {
    run,
    outcomes: runOutcomes(run, planned),
    configChanges: run.applied.length,
    configLagMs: configLagMs(run),
  };
}

function runRecord(
  context: ModelContext,
  policy: PolicyName,
  figures: RunFigures,
  cell: { load: number; sloMultiplier: number; sloMs: number; repeat: number },
  extra: { requests: number; labelAccuracy: number; configChanges: number; configLagMs: number | null },
): RunRecord {
  return {
    model: context.name,
    policy,
    ...cell,
    requests: extra.requests,
    served: figures.served,
    dropped: figures.dropped,
    latencyMs: figures.latencyMs,
    winsVsVanillaPct: figures.winsVsVanillaPct,
    accuracy: figures.accuracy,
    worstWindowAccuracy: figures.worstWindowAccuracy,
    labelAccuracy: extra.labelAccuracy,
    exitRate: figures.exitRate,
    throughputRps: figures.throughputRps,
    throughputRatio: figures.throughputRatio,
    fractionOfOptimal: figures.fractionOfOptimal,
    configChanges: extra.configChanges,
    configLagMs: extra.configLagMs,
  };
}

async function prepareContext(name: string, settings: EvalSettings, log: Log): Promise<ModelContext> {
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
  const largest = Math.max(...profile.batchSizes);
  const capacity = await measureCapacity(prepared.dir, name, served, largest, settings.capacitySeconds);
  const profileLargestMs = profile.vanillaMs[profile.batchSizes.indexOf(largest)] as number;
  log(
    `${name}: capacity ${capacity.rps.toFixed(0)} req/s (batch ${largest}: ${capacity.largestBatchMs.toFixed(1)} ms measured, ${profileLargestMs.toFixed(1)} ms profiled)`,
  );
  return {
    name,
    bundle,
    stream,
    all,
    staticConfig: staticConfig(bundle, all, settings.constraint),
    capacity,
    profileLargestMs,
    warmup: served.slice(0, WARMUP_REQUESTS),
    preparedSeconds: prepared.preparedSeconds,
  };
}

/** Everything `docs/evaluation/results.json` holds. */
export interface EvaluationResults {
  readonly settings: EvalSettings;
  readonly machine: Record<string, string | number>;
  readonly startedAt: string;
  readonly wallSeconds: number;
  readonly models: Record<string, unknown>[];
  readonly cells: Cell[];
  readonly runs: RunRecord[];
  readonly ablation: AblationRow[];
  readonly drift: DriftRow[];
  readonly summary: ReturnType<typeof summaryRecords>;
}

/** Runs the whole evaluation and writes its outputs into `settings.outDir`. */
export async function runEvaluation(settings: EvalSettings, log: Log): Promise<EvaluationResults> {
  const began = performance.now();
  const startedAt = new Date().toISOString();
  const stamp = (): string => {
    const s = Math.round((performance.now() - began) / 1000);
    return `[${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}]`;
  };
  const say: Log = (line) => log(`${stamp()} ${line}`);
  const tracePath = settings.tracePath ?? defaultTracePath();
  const primarySlo = settings.sloMultipliers[0] as number;
  const topLoad = Math.max(...settings.loads);
  const runsPerModel =
    settings.loads.length *
      3 *
      (settings.repeats + (settings.sloMultipliers.length - 1) * settings.secondaryRepeats) +
    settings.repeats * settings.ablationBudgets.length;
  say(
    `e2e: ${settings.models.join(', ')}; loads ${settings.loads.join(', ')}; SLOs ${settings.sloMultipliers.join(', ')}x; ${settings.repeats} repeat(s) of ${settings.runSeconds} s; about ${runsPerModel} runs per model${settings.driftSeconds > 0 ? ` + drift (${settings.driftSeconds} s)` : ''}`,
  );
  await mkdir(settings.outDir, { recursive: true });

  const runs: RunRecord[] = [];
  const ablation: AblationRow[] = [];
  const drift: DriftRow[] = [];
  const models: Record<string, unknown>[] = [];
  const charts = new Map<string, string>();

  for (const name of settings.models) {
    const context = await prepareContext(name, settings, say);
    const fractions = context.bundle.manifest.candidates.map((c) => c.latencyFraction);
    const plainAtTop = new Map<number, readonly RequestOutcome[]>();
    const apparateAtTop: RunFigures[] = [];
    const labels = context.stream.labels;
    const bootstrap = context.bundle.manifest.bootstrap.samples;
    const arrivalsFor = async (load: number, repeat: number, seconds: number, offset = 0) =>
      plannedArrivals({
        tracePath,
        traceStartSecond: settings.traceStartSecond + offset + repeat * seconds,
        seconds,
        load,
        capacityRps: context.capacity.rps,
        seed: settings.seed + repeat,
      });

    for (const load of settings.loads) {
      for (const sloMultiplier of settings.sloMultipliers) {
        const sloMs = sloMultiplier * context.profileLargestMs;
        const repeats = sloMultiplier === primarySlo ? settings.repeats : settings.secondaryRepeats;
        for (let repeat = 0; repeat < repeats; repeat++) {
          const { arrivalsMs, rps } = await arrivalsFor(load, repeat, settings.runSeconds);
          const planned = planRequests(arrivalsMs, context.stream, bootstrap, {
            seed: settings.seed + repeat,
          });
          const order: Exclude<PolicyName, 'optimal'>[] = ['plain', 'apparate', 'static'];
          const rotated = [...order.slice(repeat % 3), ...order.slice(0, repeat % 3)];
          const served = new Map<string, ServedPolicy>();
          for (const policy of rotated) {
            served.set(policy, await servePolicy(context, policy, planned, sloMs, settings));
          }
          const plain = served.get('plain') as ServedPolicy;
          const outcomes = new Map<string, readonly RequestOutcome[]>([
            ['plain', plain.outcomes],
            ['apparate', (served.get('apparate') as ServedPolicy).outcomes],
            ['static', (served.get('static') as ServedPolicy).outcomes],
            ['optimal', optimalOutcomes(plain.run, planned, context.all, fractions)],
          ]);
          const figures = repeatFigures(outcomes);
          for (const [policy, figure] of figures) {
            const source = served.get(policy) ?? plain;
            runs.push(
              runRecord(
                context,
                policy as PolicyName,
                figure,
                { load, sloMultiplier, sloMs, repeat },
                {
                  requests: planned.length,
                  labelAccuracy: labelAccuracy(
                    source.run,
                    planned,
                    labels,
                    policy === 'optimal' ? 'final' : 'released',
                  ),
                  configChanges: policy === 'apparate' ? source.configChanges : 0,
                  configLagMs: policy === 'apparate' ? source.configLagMs : null,
                },
              ),
            );
          }
          const a = figures.get('apparate') as RunFigures;
          const s = figures.get('static') as RunFigures;
          say(
            `${name} load ${load} SLO ${sloMultiplier}x (${sloMs.toFixed(0)} ms) repeat ${repeat + 1}/${repeats}: ${planned.length} requests at ${rps.toFixed(0)} req/s; plain p50 ${(figures.get('plain') as RunFigures).latencyMs.p50.toFixed(1)} ms; Apparate win ${a.winsVsVanillaPct.p50.toFixed(1)}% agreement ${(100 * a.accuracy).toFixed(2)}%; static win ${s.winsVsVanillaPct.p50.toFixed(1)}% agreement ${(100 * s.accuracy).toFixed(2)}%; optimal win ${(figures.get('optimal') as RunFigures).winsVsVanillaPct.p50.toFixed(1)}%`,
          );
          if (load === topLoad && sloMultiplier === primarySlo) {
            plainAtTop.set(repeat, plain.outcomes);
            apparateAtTop.push(a);
          }
          if (repeat === 0 && sloMultiplier === primarySlo) {
            charts.set(`latency-cdf-${name}-load${load}.svg`, latencyCdfChart(name, load, sloMs, outcomes));
          }
        }
      }
    }

    // Ramp-budget ablation: Apparate at the highest load and the primary SLO, against the same
    // repeat's plain run; the bundle's own budget reuses the main runs.
    const sloMs = primarySlo * context.profileLargestMs;
    for (const budget of settings.ablationBudgets) {
      const wins: number[] = [];
      const accuracies: number[] = [];
      const worst: number[] = [];
      for (let repeat = 0; repeat < settings.repeats; repeat++) {
        let figure: RunFigures | undefined;
        if (Math.abs(budget - context.bundle.manifest.rampBudget) < 1e-12) {
          figure = apparateAtTop[repeat];
        } else {
          const { arrivalsMs } = await arrivalsFor(topLoad, repeat, settings.runSeconds);
          const planned = planRequests(arrivalsMs, context.stream, bootstrap, {
            seed: settings.seed + repeat,
          });
          const served = await servePolicy(context, 'apparate', planned, sloMs, settings, budget);
          figure = repeatFigures(
            new Map([
              ['plain', plainAtTop.get(repeat) ?? []],
              ['apparate', served.outcomes],
            ]),
          ).get('apparate');
        }
        if (figure === undefined) continue;
        wins.push(figure.winsVsVanillaPct.p50);
        accuracies.push(figure.accuracy);
        worst.push(figure.worstWindowAccuracy);
      }
      const spread = (values: number[]) => ({
        median: median(values),
        min: minOf(values),
        max: maxOf(values),
      });
      const row: AblationRow = {
        model: name,
        budget,
        initialRamps: initialConfigFor(context.bundle, budget).ramps.map((r) => r.id),
        winP50Pct: spread(wins),
        accuracy: spread(accuracies),
        worstWindowAccuracy: spread(worst),
      };
      ablation.push(row);
      say(
        `${name} ablation budget ${(100 * budget).toFixed(0)}% (initial ramps ${row.initialRamps.join(', ') || 'none'}): win ${row.winP50Pct.median.toFixed(1)}%, agreement ${(100 * row.accuracy.median).toFixed(2)}%`,
      );
    }

    // Noise drift: one long run per policy at the highest load; inputs grow noisy mid-run.
    if (settings.driftSeconds > 0) {
      const { arrivalsMs } = await arrivalsFor(topLoad, 0, settings.driftSeconds, 3600);
      const planned = planRequests(arrivalsMs, context.stream, bootstrap, {
        seed: settings.seed,
        drift: true,
      });
      const served = new Map<string, ServedPolicy>();
      for (const policy of ['plain', 'apparate', 'static'] as const) {
        served.set(policy, await servePolicy(context, policy, planned, sloMs, settings));
      }
      const outcomes = new Map([...served].map(([policy, s]) => [policy, s.outcomes]));
      const figures = repeatFigures(outcomes);
      for (const policy of ['apparate', 'static'] as const) {
        const figure = figures.get(policy) as RunFigures;
        const list = outcomes.get(policy) ?? [];
        const noisyServed = list.filter((o, i) => planned[i]?.noisy === true && o.releaseAtMs !== undefined);
        const row: DriftRow = {
          model: name,
          policy,
          winP50Pct: figure.winsVsVanillaPct.p50,
          accuracy: figure.accuracy,
          worstWindowAccuracy: figure.worstWindowAccuracy,
          noisyAccuracy:
            noisyServed.filter((o) => o.agrees === true).length / Math.max(1, noisyServed.length),
          labelAccuracy: labelAccuracy((served.get(policy) as ServedPolicy).run, planned, labels),
          configChanges: (served.get(policy) as ServedPolicy).configChanges,
        };
        drift.push(row);
        say(
          `${name} drift ${policy}: agreement ${(100 * row.accuracy).toFixed(2)}% (worst window ${(100 * row.worstWindowAccuracy).toFixed(2)}%, on noisy inputs ${(100 * row.noisyAccuracy).toFixed(2)}%), win ${row.winP50Pct.toFixed(1)}%, ${row.configChanges} config changes`,
        );
      }
      const step = Math.max(1, Math.floor(planned.length / 200));
      const shareX: number[] = [];
      const shareY: number[] = [];
      for (let i = 0; i < planned.length; i += step) {
        shareX.push((planned[i]?.atMs ?? 0) / 1000);
        shareY.push(noisyShareAt(i / planned.length));
      }
      const apparateRun = (served.get('apparate') as ServedPolicy).run;
      charts.set(
        `agreement-drift-${name}.svg`,
        driftChart(
          name,
          new Map([...outcomes].filter(([policy]) => policy !== 'plain')),
          { label: 'noisy share of inputs', x: shareX, y: shareY },
          apparateRun.applied.map((change) => change.atMs),
        ),
      );
    }
    models.push({
      model: name,
      bundleDir: context.bundle.dir,
      preparedSeconds: context.preparedSeconds,
      bootstrapInputs: bootstrap,
      initialRamps: context.bundle.manifest.initialConfig.ramps.map((r) => r.id),
      staticRamps: context.staticConfig.ramps,
      profileBatchSizes: context.bundle.manifest.profile.batchSizes,
      profileVanillaMs: context.bundle.manifest.profile.vanillaMs,
      capacity: context.capacity,
      sloMs: settings.sloMultipliers.map((k) => k * context.profileLargestMs),
      plainLabelAccuracy: median(
        runs.filter((r) => r.model === name && r.policy === 'plain').map((r) => r.labelAccuracy),
      ),
    });
  }

  const cells = aggregateRuns(runs);
  const summary = summaryRecords(cells, primarySlo);
  for (const multiplier of settings.sloMultipliers) {
    charts.set(`wins-per-load-slo${multiplier}x.svg`, winsPerLoadChart(cells, multiplier));
  }
  if (ablation.length > 0) {
    charts.set(
      'ablation.svg',
      ablationChart(
        ablation.map((r) => ({ model: r.model, budget: r.budget, winP50Pct: r.winP50Pct.median })),
      ),
    );
  }
  const results: EvaluationResults = {
    settings: { ...settings, tracePath },
    machine: machine(),
    startedAt,
    wallSeconds: (performance.now() - began) / 1000,
    models,
    cells,
    runs,
    ablation,
    drift,
    summary,
  };
  for (const [file, svg] of charts) await writeFile(join(settings.outDir, file), svg);
  await writeFile(join(settings.outDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  await writeFile(join(settings.outDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  const tables = [
    `# Evaluation tables (generated ${startedAt}, ${results.wallSeconds.toFixed(0)} s)`,
    '',
    '## Per model, load, SLO and policy (median over repeats, min – max)',
    '',
    mainTable(cells),
    '',
    '## Ramp-budget ablation',
    '',
    ablationTable(ablation),
    '',
    '## Noise drift',
    '',
    driftTable(drift),
    '',
  ].join('\n');
  await writeFile(join(settings.outDir, 'tables.md'), tables);
  say(
    `e2e: done in ${results.wallSeconds.toFixed(0)} s; wrote ${charts.size} plots, summary.json, results.json, tables.md to ${settings.outDir}`,
  );
  return results;
}

export const e2eBenchmark: Benchmark = {
  name: 'e2e',
  summary: 'end-to-end evaluation on the real worker: plain, Apparate, static, optimal; ablation; drift',
  async run(args) {
    const settings = parseEvalArgs(args);
    const results = await runEvaluation(settings, (line) => process.stdout.write(`${line}\n`));
    process.stdout.write(`\n${mainTable(results.cells)}\n`);
    return {
      benchmark: 'e2e',
      machine: results.machine,
      measuredAt: results.startedAt,
      wallSeconds: results.wallSeconds,
      outDir: settings.outDir,
      summary: results.summary,
    };
  },
};
