/**
 * `npm run bench -- e2e [--quick]`: the end-to-end evaluation on the real worker (not the
 * simulator), with the worker in a serving process of its own and this process as its client. For
 * each fixture model it prepares the bundle when missing, measures the plain model's capacity on
 * this machine (through the client's channel, which the loads are fractions of, and the worker's
 * alone, bench/eval/served-capacity.ts), then serves Twitter-trace arrivals at each load and SLO with
 * the plain model, Apparate (the online controller following the worker's batch reports through
 * an in-memory config store) and static early exit, repeat by repeat, and adds the offline
 * optimal over the plain run's own batches. Then the ramp-budget ablation (Apparate at the
 * highest load) and a run whose inputs grow noisy. Each win is reported with a confidence interval
 * of its median over the repeats (bench/eval/median-interval.ts). Results, plots and tables go to
 * `docs/evaluation/` (or `--out`); see `docs/evaluation.md` for the reading of them.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { maxOf } from '../core/util/stats';
import { ablationChart, winsPerLoadChart } from './eval/charts';
import { machine, prepareContext, type Log } from './eval/model-context';
import { modelRecord, runAblation, runDrift, runLoadGrid, type ModelPhase } from './eval/phases';
import { aggregateRuns, summaryRecords, type Cell, type RunRecord } from './eval/results';
import { ablationTable, driftTable, mainTable, type AblationRow, type DriftRow } from './eval/tables';
import { layoutOf, parseEvalArgs, type EvalSettings } from './eval/settings';
import { defaultTracePath } from './eval/workload';
import type { Benchmark } from './run';

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
  const topLoad = maxOf(settings.loads);
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
    const phase: ModelPhase = { name, context, settings, tracePath, primarySlo, topLoad, say, charts };
    const top = await runLoadGrid(phase, runs);
    ablation.push(...(await runAblation(phase, top)));
    drift.push(...(await runDrift(phase)));
    models.push(modelRecord(phase, runs));
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
    machine: machine(layoutOf(settings)),
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
  usage:
    'usage: npm run bench -- e2e [--quick] [--models a,b] [--loads 0.5,0.7] [--slo-multipliers 2] [--ablation-budgets 0.02,0.1] [--repeats N] [--secondary-repeats N] [--run-seconds N] [--slice-seconds S] [--capacity-seconds N] [--drift-seconds N] [--constraint 0.99] [--config-poll-ms N] [--adjust-period-batches N] [--seed N] [--trace-start-second N] [--load-basis served|worker] [--inference-threads N] [--intra-op-threads M] [--trace file] [--bundles-dir dir] [--out dir]',
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
