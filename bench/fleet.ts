/**
 * `npm run bench -- fleet [--json] [--task mnist] [--start-day 15] [--hours 24] [--peak-workers 16]
 * [--forecaster lstm] [--variants a,b] [--latency-weight γ] [--profiles file]`:
 * the fleet simulation. Replays a day of the Twitter trace (zero-gap seconds skipped, scaled so its
 * peak needs `--peak-workers` workers of the most accurate variant with exits off) through the five
 * fleet policies over the committed profiles (`zoo/profiles/<task>.json`, from `fleet-profile`),
 * compares the forecasters on the same day, times every planning decision, and writes SVG plots of
 * offered rate against planned capacity and of the variant mix to `docs/fleet/`.
 *
 * `--latency-weight γ` gives both planner policies (`infadapter`, `combined`) the planner's latency
 * term: a mean latency equal to the SLO costs γ points of accuracy (docs/fleet.md). The default, 0,
 * is InfAdapter's own objective.
 *
 * `--profiles` reads another profile file than the committed `zoo/profiles/<task>.json`.
 *
 * The simulation is deterministic (no clock in it): the only timings are the planner's decision
 * times, reported as a median, a 99th percentile and a maximum over all decisions of the run.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { InputError } from '../core/errors';
import {
  inScale,
  FORECASTERS,
  intervalPeaks,
  scoreForecaster,
  type ForecastErrors,
  type Forecaster,
} from '../core/fleet/forecast';
import { simulateFleet, type FleetPolicy, type FleetResult } from '../core/fleet/fleet-sim';
import { plannerPolicy, staticPolicy, targetTrackingPolicy } from '../core/fleet/fleet-policies';
import { groupLabel } from '../core/fleet/planner';
import { lstmForecaster, readLstmWeights } from '../core/fleet/lstm-forecaster';
import type { TaskProfiles } from '../core/fleet/variant-profile';
import { lineChart } from '../core/report/svg-chart';
import { median, quantile } from '../core/util/stats';
import { readTrace, traceWindow } from '../core/workload/trace';
import { locateTrace } from '../core/workload/trace-location';
import { readProfilesFile, readTaskProfiles } from '../core/fleet/profiles-location';
import type { Benchmark } from './run';

const INTERVAL_SECONDS = 60;
/** Instance start before the model loads (boot and process start of a local worker pool), s. */
const WORKER_START_SECONDS = 30;
const DOCS_DIR = join(__dirname, '..', 'docs', 'fleet');

function option(args: readonly string[], name: string): string | undefined {
  const arg = args.find((a) => a.startsWith(`--${name}=`));
  if (arg) return arg.slice(name.length + 3);
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : undefined;
}

function positive(args: readonly string[], name: string, fallback: number): number {
  const raw = option(args, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!(Number.isFinite(value) && value > 0))
    throw new InputError(`--${name} must be a positive number, got ${raw}`);
  return value;
}

export interface FleetRecord {
  readonly policy: string;
  readonly sloViolationPct: number;
  readonly workerHours: number;
  readonly accuracy: number;
  readonly agreement: number;
  readonly latencyMs: { readonly p50: number; readonly p95: number };
  readonly reconfigurations: number;
}

function record(result: FleetResult): FleetRecord {
  return {
    policy: result.policy,
    sloViolationPct: result.sloViolationPct,
    workerHours: result.workerHours,
    accuracy: result.accuracy,
    agreement: result.agreement,
    latencyMs: result.latencyMs,
    reconfigurations: result.reconfigurations,
  };
}

function table(rows: readonly FleetRecord[], extra: ReadonlyMap<string, FleetResult>): string {
  const header = [
    'policy',
    'SLO viol.',
    'worker-h',
    'accuracy',
    'agreement',
    'p50 ms',
    'p95 ms',
    'reconf.',
    'infeasible',
  ];
  const body = rows.map((r) => [
    r.policy,
    `${r.sloViolationPct.toFixed(3)}%`,
    r.workerHours.toFixed(1),
    `${(100 * r.accuracy).toFixed(2)}%`,
    `${(100 * r.agreement).toFixed(2)}%`,
    r.latencyMs.p50.toFixed(2),
    r.latencyMs.p95.toFixed(2),
    String(r.reconfigurations),
    String(extra.get(r.policy)?.infeasibleDecisions ?? 0),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] as string).length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ');
  return [line(header), ...body.map(line)].join('\n');
}

function forecastTable(rows: readonly ForecastErrors[]): string {
  return [
    'forecaster  MAPE    RMSE req/s  under-provisioned  mean excess',
    ...rows.map(
      (r) =>
        `${r.method.padEnd(10)}  ${r.mapePct.toFixed(1).padStart(5)}%  ${r.rmseRps.toFixed(1).padStart(10)}  ${r.underPct.toFixed(1).padStart(16)}%  ${r.meanExcessPct.toFixed(1).padStart(10)}%`,
    ),
  ].join('\n');
}

/**
 * Wraps a policy to count, per group (variant and exit setting), the workers it asked for in each
 * interval: what the planner chose over the day, exits included, which the mix plot does not show.
 */
function countingGroups(policy: FleetPolicy): { policy: FleetPolicy; workerIntervals: Map<string, number> } {
  const workerIntervals = new Map<string, number>();
  return {
    workerIntervals,
    policy: {
      name: policy.name,
      decide(context) {
        const target = policy.decide(context);
        for (const g of target.groups)
          workerIntervals.set(groupLabel(g), (workerIntervals.get(groupLabel(g)) ?? 0) + g.workers);
        return target;
      },
    },
  };
}

function groupShares(counts: ReadonlyMap<string, number>): string {
  const total = [...counts.values()].reduce((s, n) => s + n, 0);
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([label, n]) => `${label} ${((100 * n) / Math.max(1, total)).toFixed(1)}%`)
    .join(', ');
}

async function plots(
  task: string,
  results: readonly FleetResult[],
  profiles: TaskProfiles,
  suffix: string,
): Promise<string[]> {
  await mkdir(DOCS_DIR, { recursive: true });
  const hours = (r: FleetResult) => r.timeline.map((p) => p.second / 3600);
  const first = results[0];
  if (!first) return [];
  const capacityChart = lineChart(
    [
      { label: 'offered (peak/min)', x: hours(first), y: first.timeline.map((p) => p.offeredRps) },
      ...results
        .filter((r) => r.policy !== 'static')
        .map((r) => ({
          label: `${r.policy} capacity`,
          x: hours(r),
          y: r.timeline.map((p) => p.servingCapacityRps),
          step: true,
        })),
    ],
    {
      title: `${task}: offered rate and serving capacity at the SLO`,
      xLabel: 'hour of the replayed day',
      yLabel: 'requests per second',
      width: 900,
      height: 440,
      yMin: 0,
    },
  );
  const files = [join(DOCS_DIR, `${task}-capacity${suffix}.svg`)];
  await writeFile(files[0] as string, capacityChart);
  for (const policy of ['combined', 'infadapter']) {
    const r = results.find((x) => x.policy === policy);
    if (!r) continue;
    const mixChart = lineChart(
      profiles.variants.map((v) => ({
        label: v.name,
        x: hours(r),
        y: r.timeline.map((p) => p.mix[v.name] ?? 0),
        step: true,
      })),
      {
        title: `${task}, ${policy}: workers per variant`,
        xLabel: 'hour of the replayed day',
        yLabel: 'workers',
        width: 900,
        height: 360,
        yMin: 0,
      },
    );
    const file = join(DOCS_DIR, `${task}-mix-${policy}${suffix}.svg`);
    await writeFile(file, mixChart);
    files.push(file);
  }
  return files;
}

export const fleetBenchmark: Benchmark = {
  name: 'fleet',
  summary: 'a day of the Twitter trace through five fleet policies (variants, scaling, exits)',
  usage:
    'usage: npm run bench -- fleet [--task mnist] [--start-day 15] [--hours 24] [--peak-workers 16] [--profiles file] [--variants a,b] [--trace file] [--forecaster lstm] [--latency-weight γ] [--json]',
  async run(args) {
    const json = args.includes('--json');
    const task = option(args, 'task') ?? 'mnist';
    const startDay = positive(args, 'start-day', 15);
    const hours = positive(args, 'hours', 24);
    const peakWorkers = positive(args, 'peak-workers', 16);
    const maxWorkers = Math.ceil(peakWorkers * 1.5);
    const profilesFile = option(args, 'profiles');
    const all = profilesFile ? await readProfilesFile(profilesFile) : await readTaskProfiles(task);
    // --variants a,b: plan over part of the family (what exits buy when a middle variant is missing).
    const only = option(args, 'variants')?.split(',');
    const unknown = only?.filter((name) => !all.variants.some((v) => v.name === name)) ?? [];
    if (unknown.length > 0)
      throw new InputError(
        `unknown --variants ${unknown.join(', ')}; allowed: ${all.variants.map((v) => v.name).join(', ')}`,
      );
    const profiles = only ? { ...all, variants: all.variants.filter((v) => only.includes(v.name)) } : all;
    const tracePath = option(args, 'trace') ?? locateTrace();
    if (!tracePath) throw new InputError('the Twitter trace was not found; give --trace <file>');
    const counts = await readTrace(tracePath);
    const window = traceWindow(counts, Math.round(startDay * 86400), Math.round(hours * 3600), {
      skipZeroGaps: true,
    });
    const best = [...profiles.variants].sort((a, b) => b.accuracy - a.accuracy)[0];
    const bestCapacity = best?.settings.find((s) => s.exits === 'off')?.capacityRps ?? 0;
    if (!best || !(bestCapacity > 0))
      throw new InputError(`profiles of ${task} have no variant with capacity at the SLO`);
    let tracePeak = 0;
    for (const c of window) tracePeak = Math.max(tracePeak, c);
    const scale = (peakWorkers * bestCapacity) / tracePeak;
    const rate = Float64Array.from(window, (c) => c * scale);

    // Forecasters on the same day (errors are relative, so the scale does not matter).
    const lstm = lstmForecaster(await readLstmWeights());
    const forecasters: Forecaster[] = [...FORECASTERS, lstm];
    const peaks = intervalPeaks(window, INTERVAL_SECONDS);
    const forecastErrors = forecasters.map((f) => scoreForecaster(f, peaks));
    const chosen = [...forecastErrors].sort((a, b) => a.mapePct - b.mapePct)[0]?.method ?? 'lstm';
    const named = option(args, 'forecaster') ?? 'lstm';
    const picked = forecasters.find((f) => f.name === named);
    if (!picked)
      throw new InputError(
        `unknown --forecaster ${named}; allowed: ${forecasters.map((f) => f.name).join(', ')}`,
      );
    // The policies see the scaled replay; every forecaster sees it in the trace's own units.
    const forecaster = inScale(picked, scale);

    const latencyRaw = option(args, 'latency-weight');
    const latencyWeight = latencyRaw === undefined ? 0 : Number(latencyRaw);
    if (!(Number.isFinite(latencyWeight) && latencyWeight >= 0))
      throw new InputError(`--latency-weight must be a number ≥ 0, got ${latencyRaw}`);
    const settings = { maxWorkers, latencyWeight, sloMs: profiles.sloMs };
    const decisionMs: number[] = [];
    const clock = () => performance.now();
    const onDecision = (ms: number) => decisionMs.push(ms);
    const counted = [
      staticPolicy(profiles, maxWorkers),
      targetTrackingPolicy('reactive', profiles, 'off', maxWorkers),
      plannerPolicy('infadapter', profiles, forecaster, settings, { exits: false, onDecision, clock }),
      targetTrackingPolicy('apparate', profiles, { constraint: 0.99 }, maxWorkers),
      plannerPolicy('combined', profiles, forecaster, settings, { exits: true, onDecision, clock }),
    ].map(countingGroups);
    const policies: FleetPolicy[] = counted.map((c) => c.policy);
    const mixes = Object.fromEntries(
      counted.map((c) => [c.policy.name, Object.fromEntries(c.workerIntervals)] as const),
    );
    const results = policies.map((policy) =>
      simulateFleet(policy, {
        profiles,
        ratePerSecond: rate,
        intervalSeconds: INTERVAL_SECONDS,
        workerStartSeconds: WORKER_START_SECONDS,
      }),
    );
    const records = results.map(record);
    const files = await plots(
      task,
      results,
      profiles,
      `${profilesFile ? `-${basename(profilesFile, '.json')}` : ''}${latencyWeight > 0 ? `-latency-${latencyWeight}` : ''}`,
    );
    const planning = {
      decisions: decisionMs.length,
      medianMs: median(decisionMs),
      p99Ms: quantile(decisionMs, 0.99),
      maxMs: Math.max(...decisionMs),
    };
    if (json) process.stdout.write(`${JSON.stringify(records, null, 2)}\n`);
    else {
      process.stdout.write(
        [
          `${task}: ${hours} h of the Twitter trace from day ${startDay} (zero gaps skipped), scaled ×${scale.toFixed(2)} so its peak (${(tracePeak * scale).toFixed(0)} req/s) needs ${peakWorkers} workers of ${best.name}; SLO ${profiles.sloMs.toFixed(1)} ms; budget ${maxWorkers} workers; decisions every ${INTERVAL_SECONDS} s; forecaster ${forecaster.name} +10%; latency weight ${latencyWeight}`,
          '',
          table(records, new Map(results.map((r) => [r.policy, r]))),
          '',
          'worker-intervals by variant and exit setting:',
          ...counted.map((c) => `  ${c.policy.name.padEnd(10)}  ${groupShares(c.workerIntervals)}`),
          '',
          forecastTable(forecastErrors),
          `(lowest MAPE: ${chosen})`,
          '',
          `planning: ${planning.decisions} decisions, median ${planning.medianMs.toFixed(2)} ms, p99 ${planning.p99Ms.toFixed(2)} ms, max ${planning.maxMs.toFixed(2)} ms`,
          ...files.map((f) => `wrote ${f}`),
          '',
        ].join('\n'),
      );
    }
    return {
      task,
      trace: { path: tracePath, startDay, hours, scale, peakRps: tracePeak * scale },
      sloMs: profiles.sloMs,
      maxWorkers,
      latencyWeight,
      forecaster: forecaster.name,
      policies: records,
      workerIntervals: mixes,
      infeasibleDecisions: Object.fromEntries(results.map((r) => [r.policy, r.infeasibleDecisions])),
      forecasts: forecastErrors,
      planning,
    };
  },
};
