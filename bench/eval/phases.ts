/**
 * The phases of one model's end-to-end evaluation, in the order `runEvaluation` (bench/e2e.ts)
 * runs them: the grid of loads, SLOs and repeats for every policy; the ramp-budget ablation at the
 * highest load; the noise-drift run; and the model's own record.
 */
import type { RequestOutcome } from '../../core/simulator/replay';
import { maxOf, median, minOf } from '../../core/util/stats';
import { driftChart, latencyCdfChart } from './charts';
import { latencyParts } from './latency-parts';
import { labelAccuracy, optimalOutcomes, repeatFigures, type RunFigures } from './metrics';
import {
  cpuPerRequest,
  meanBatchSize,
  paddingShare,
  runRecord,
  servePolicies,
  servePolicy,
  type Log,
  type ModelContext,
  type ServedPolicy,
} from './model-context';
import { initialConfigFor, type PolicyName } from './policies';
import type { RunRecord } from './results';
import type { EvalSettings } from './settings';
import type { AblationRow, DriftRow } from './tables';
import { noisyShareAt, plannedArrivals, planRequests } from './workload';

/** What every phase of one model shares. */
export interface ModelPhase {
  readonly name: string;
  readonly context: ModelContext;
  readonly settings: EvalSettings;
  readonly tracePath: string;
  /** The first SLO multiplier, which gets the full repeats, the ablation and the drift run. */
  readonly primarySlo: number;
  readonly topLoad: number;
  readonly say: Log;
  /** Plots by file name; phases add theirs. */
  readonly charts: Map<string, string>;
}

/** The planned arrivals of one repeat at one load. */
function arrivalsFor(phase: ModelPhase, load: number, repeat: number, seconds: number, offset = 0) {
  const { settings, context } = phase;
  return plannedArrivals({
    tracePath: phase.tracePath,
    traceStartSecond: settings.traceStartSecond + offset + repeat * seconds,
    seconds,
    load,
    capacityRps: context.capacity.rps,
    seed: settings.seed + repeat,
  });
}

/** The grid's results the ablation reuses: plain outcomes and Apparate figures at the top load. */
export interface TopLoadRuns {
  readonly plainAtTop: Map<number, readonly RequestOutcome[]>;
  readonly apparateAtTop: RunFigures[];
}

/** Every load, SLO and repeat, each policy served in a rotating order; pushes onto `runs`. */
export async function runLoadGrid(phase: ModelPhase, runs: RunRecord[]): Promise<TopLoadRuns> {
  const { name, context, settings, primarySlo, topLoad, say, charts } = phase;
  const fractions = context.bundle.manifest.candidates.map((c) => c.latencyFraction);
  const plainAtTop = new Map<number, readonly RequestOutcome[]>();
  const apparateAtTop: RunFigures[] = [];
  const labels = context.stream.labels;
  const bootstrap = context.bundle.manifest.bootstrap.samples;
  for (const load of settings.loads) {
    for (const sloMultiplier of settings.sloMultipliers) {
      const sloMs = sloMultiplier * context.profileLargestMs;
      const repeats = sloMultiplier === primarySlo ? settings.repeats : settings.secondaryRepeats;
      for (let repeat = 0; repeat < repeats; repeat++) {
        const { arrivalsMs, rps } = await arrivalsFor(phase, load, repeat, settings.runSeconds);
        const planned = planRequests(arrivalsMs, context.stream, bootstrap, {
          seed: settings.seed + repeat,
        });
        const order: Exclude<PolicyName, 'optimal'>[] = ['plain', 'apparate', 'static'];
        const rotated = [...order.slice(repeat % 3), ...order.slice(0, repeat % 3)];
        const served = await servePolicies(context, rotated, planned, sloMs, settings);
        const plain = served.get('plain') as ServedPolicy;
        const apparate = served.get('apparate') as ServedPolicy;
        const outcomes = new Map<string, readonly RequestOutcome[]>([
          ['plain', plain.outcomes],
          ['apparate', apparate.outcomes],
          ['static', (served.get('static') as ServedPolicy).outcomes],
          ['optimal', optimalOutcomes(plain.run, planned, context.all, fractions)],
        ]);
        const figures = repeatFigures(outcomes);
        const partsOf = new Map(
          [...outcomes.keys()].map((policy) => [
            policy,
            latencyParts(
              (served.get(policy) ?? plain).run.batches,
              outcomes.get(policy) ?? [],
              served.get(policy)?.run.requests,
            ),
          ]),
        );
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
                rampSets: policy === 'optimal' ? [] : source.rampSets,
                meanBatchSize: meanBatchSize(source.run),
                paddingShare: paddingShare(source.run),
                cpuMsPerRequest: policy === 'optimal' ? null : cpuPerRequest(source.run),
                latencyParts: partsOf.get(policy) ?? null,
              },
            ),
          );
        }
        const parts = (policy: PolicyName): string => {
          const p = partsOf.get(policy) ?? null;
          return p === null
            ? 'none served'
            : `waited ${p.waitP50Ms.toFixed(1)} ms, in batch ${p.inBatchP50Ms.toFixed(1)} ms${p.deliveryP50Ms === undefined ? '' : ` (${p.deliveryP50Ms.toFixed(1)} ms from release to client)`}`;
        };
        const a = figures.get('apparate') as RunFigures;
        const s = figures.get('static') as RunFigures;
        say(
          `${name} load ${load} SLO ${sloMultiplier}x (${sloMs.toFixed(0)} ms) repeat ${repeat + 1}/${repeats}: ${planned.length} requests at ${rps.toFixed(0)} req/s; plain p50 ${(figures.get('plain') as RunFigures).latencyMs.p50.toFixed(1)} ms (${parts('plain')}; ${meanBatchSize(plain.run).toFixed(1)} a batch, ${(100 * paddingShare(plain.run)).toFixed(0)}% padding); Apparate win ${a.winsVsPlainPct.p50.toFixed(1)}% agreement ${(100 * a.agreement).toFixed(2)}% (${parts('apparate')}; ${meanBatchSize(apparate.run).toFixed(1)} a batch, ${(100 * paddingShare(apparate.run)).toFixed(0)}% padding, ramps ${apparate.rampSets.map((set) => set.join('+') || 'none').join(' → ')}); static win ${s.winsVsPlainPct.p50.toFixed(1)}% agreement ${(100 * s.agreement).toFixed(2)}%; optimal win ${(figures.get('optimal') as RunFigures).winsVsPlainPct.p50.toFixed(1)}%`,
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

  return { plainAtTop, apparateAtTop };
}

/**
 * Ramp-budget ablation: Apparate at the highest load and the primary SLO, against the same
 * repeat's plain run; the bundle's own budget reuses the main runs.
 */
export async function runAblation(phase: ModelPhase, top: TopLoadRuns): Promise<AblationRow[]> {
  const { name, context, settings, primarySlo, topLoad, say } = phase;
  const { plainAtTop, apparateAtTop } = top;
  const bootstrap = context.bundle.manifest.bootstrap.samples;
  const ablation: AblationRow[] = [];
  const sloMs = primarySlo * context.profileLargestMs;
  for (const budget of settings.ablationBudgets) {
    const wins: number[] = [];
    const agreements: number[] = [];
    const worst: number[] = [];
    for (let repeat = 0; repeat < settings.repeats; repeat++) {
      let figure: RunFigures | undefined;
      if (Math.abs(budget - context.bundle.manifest.rampBudget) < 1e-12) {
        figure = apparateAtTop[repeat];
      } else {
        const { arrivalsMs } = await arrivalsFor(phase, topLoad, repeat, settings.runSeconds);
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
      wins.push(figure.winsVsPlainPct.p50);
      agreements.push(figure.agreement);
      worst.push(figure.worstWindowAgreement);
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
      agreement: spread(agreements),
      worstWindowAgreement: spread(worst),
    };
    ablation.push(row);
    say(
      `${name} ablation budget ${(100 * budget).toFixed(0)}% (initial ramps ${row.initialRamps.join(', ') || 'none'}): win ${row.winP50Pct.median.toFixed(1)}%, agreement ${(100 * row.agreement.median).toFixed(2)}%`,
    );
  }

  return ablation;
}

/** Noise drift: one long run per policy at the highest load; inputs grow noisy mid-run. */
export async function runDrift(phase: ModelPhase): Promise<DriftRow[]> {
  const { name, context, settings, primarySlo, topLoad, say, charts } = phase;
  const labels = context.stream.labels;
  const bootstrap = context.bundle.manifest.bootstrap.samples;
  const sloMs = primarySlo * context.profileLargestMs;
  const drift: DriftRow[] = [];
  if (settings.driftSeconds <= 0) return drift;
  const { arrivalsMs } = await arrivalsFor(phase, topLoad, 0, settings.driftSeconds, 3600);
  const planned = planRequests(arrivalsMs, context.stream, bootstrap, {
    seed: settings.seed,
    drift: true,
  });
  const served = await servePolicies(context, ['plain', 'apparate', 'static'], planned, sloMs, settings);
  const outcomes = new Map([...served].map(([policy, s]) => [policy, s.outcomes]));
  const figures = repeatFigures(outcomes);
  for (const policy of ['apparate', 'static'] as const) {
    const figure = figures.get(policy) as RunFigures;
    const list = outcomes.get(policy) ?? [];
    const noisyServed = list.filter((o, i) => planned[i]?.noisy === true && o.releaseAtMs !== undefined);
    const row: DriftRow = {
      model: name,
      policy,
      winP50Pct: figure.winsVsPlainPct.p50,
      agreement: figure.agreement,
      worstWindowAgreement: figure.worstWindowAgreement,
      noisyAgreement: noisyServed.filter((o) => o.agrees === true).length / Math.max(1, noisyServed.length),
      labelAccuracy: labelAccuracy((served.get(policy) as ServedPolicy).run, planned, labels),
      configChanges: (served.get(policy) as ServedPolicy).configChanges,
    };
    drift.push(row);
    say(
      `${name} drift ${policy}: agreement ${(100 * row.agreement).toFixed(2)}% (worst window ${(100 * row.worstWindowAgreement).toFixed(2)}%, on noisy inputs ${(100 * row.noisyAgreement).toFixed(2)}%), win ${row.winP50Pct.toFixed(1)}%, ${row.configChanges} config changes`,
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
  return drift;
}

/** The model's record in results.json. */
export function modelRecord(phase: ModelPhase, runs: readonly RunRecord[]): Record<string, unknown> {
  const { name, context, settings } = phase;
  const bootstrap = context.bundle.manifest.bootstrap.samples;
  return {
    model: name,
    bundleDir: context.bundle.dir,
    preparedSeconds: context.preparedSeconds,
    bootstrapInputs: bootstrap,
    initialRamps: context.bundle.manifest.initialConfig.ramps.map((r) => r.id),
    staticRamps: context.staticConfig.ramps,
    profileBatchSizes: context.bundle.manifest.profile.batchSizes,
    profilePlainMs: context.bundle.manifest.profile.plainMs,
    capacity: context.capacity,
    loadBasis: settings.loadBasis,
    workerCapacity: context.capacities.worker,
    servedCapacity: context.capacities.served,
    sloMs: settings.sloMultipliers.map((k) => k * context.profileLargestMs),
    plainLabelAccuracy: median(
      runs.filter((r) => r.model === name && r.policy === 'plain').map((r) => r.labelAccuracy),
    ),
  };
}
