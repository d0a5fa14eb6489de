/**
 * The evaluation's plots, drawn with the project's plain-SVG line charts (`core/report/svg-chart`)
 * so a rerun regenerates them with no plotting library: latency CDFs per model and load, median
 * wins per load, agreement over time under drift with config changes marked, and the ramp-budget
 * ablation.
 */
import { cdfSeries, lineChart, type Series } from '../../core/report/svg-chart';
import { AGREEMENT_WINDOW } from '../../core/simulator/metrics';
import type { RequestOutcome } from '../../core/simulator/replay';
import { quantile } from '../../core/util/stats';
import type { Cell } from './results';

const POLICY_LABELS: Readonly<Record<string, string>> = {
  plain: 'plain model',
  apparate: 'Apparate',
  static: 'static early exit',
  optimal: 'offline optimal',
};

/** Latency of each served outcome, ms. */
function latencies(outcomes: readonly RequestOutcome[]): number[] {
  return outcomes
    .filter((o) => o.releaseAtMs !== undefined)
    .map((o) => (o.releaseAtMs as number) - o.arrivalMs);
}

/** CDFs of serving latency of every policy in one repeat, cut at the 99th percentile of the slowest. */
export function latencyCdfChart(
  model: string,
  load: number,
  sloMs: number,
  outcomes: ReadonlyMap<string, readonly RequestOutcome[]>,
): string {
  const series = [...outcomes].map(([name, list]) => cdfSeries(POLICY_LABELS[name] ?? name, latencies(list)));
  const xMax = Math.max(...[...outcomes.values()].map((list) => quantile(latencies(list), 0.99)));
  return lineChart(series, {
    title: `${model}: serving latency, load ${load}, SLO ${sloMs.toFixed(0)} ms (real worker)`,
    xLabel: 'latency from arrival to first answer (ms)',
    yLabel: 'share of requests',
    xMax,
    yMin: 0,
    yMax: 1,
  });
}

/** Median saving against the plain model per load, one line per model and policy. */
export function winsPerLoadChart(cells: readonly Cell[], sloMultiplier: number): string {
  const chosen = cells.filter((c) => c.sloMultiplier === sloMultiplier && c.policy !== 'plain');
  const keys = [...new Set(chosen.map((c) => `${c.model}|${c.policy}`))];
  const series: Series[] = keys.map((key) => {
    const [model, policy] = key.split('|') as [string, string];
    const points = chosen
      .filter((c) => c.model === model && c.policy === policy)
      .sort((a, b) => a.load - b.load);
    return {
      label: `${model} ${POLICY_LABELS[policy] ?? policy}`,
      x: points.map((p) => p.load),
      y: points.map((p) => p.winsVsPlainPct.p50),
    };
  });
  return lineChart(series, {
    title: `median latency saving vs the plain model (SLO ${sloMultiplier}x)`,
    xLabel: 'load (fraction of measured capacity)',
    yLabel: 'median saving (%)',
    width: 820,
    xMax: 0.8,
  });
}

/** Agreement over the last 512 served requests, against the time the answer was released. */
export function agreementSeries(label: string, outcomes: readonly RequestOutcome[], points = 300): Series {
  const served = outcomes
    .filter((o) => o.releaseAtMs !== undefined)
    .sort((a, b) => (a.releaseAtMs as number) - (b.releaseAtMs as number));
  const x: number[] = [];
  const y: number[] = [];
  let inWindow = 0;
  const stride = Math.max(1, Math.floor(served.length / points));
  served.forEach((o, i) => {
    if (o.agrees === true) inWindow += 1;
    const leaving = served[i - AGREEMENT_WINDOW];
    if (leaving?.agrees === true) inWindow -= 1;
    if (i % stride !== 0 && i !== served.length - 1) return;
    x.push((o.releaseAtMs as number) / 1000);
    y.push(inWindow / Math.min(i + 1, AGREEMENT_WINDOW));
  });
  return { label, x, y };
}

/** The drift run: agreement over time of each policy, the share of noisy inputs, config changes dashed. */
export function driftChart(
  model: string,
  outcomes: ReadonlyMap<string, readonly RequestOutcome[]>,
  noisyShare: Series,
  configChangesMs: readonly number[],
): string {
  const series = [...outcomes].map(([name, list]) => agreementSeries(POLICY_LABELS[name] ?? name, list));
  return lineChart([...series, noisyShare], {
    title: `${model}: agreement over the last ${AGREEMENT_WINDOW} answers as noise rises (dashed: Apparate config changes)`,
    xLabel: 'time (s)',
    yLabel: 'agreement with the plain model / noisy share',
    width: 860,
    yMin: 0,
    yMax: 1,
    markers: configChangesMs.map((ms) => ms / 1000),
  });
}

/** Median saving of Apparate per ramp budget, one line per model. */
export function ablationChart(rows: readonly { model: string; budget: number; winP50Pct: number }[]): string {
  const models = [...new Set(rows.map((r) => r.model))];
  const series: Series[] = models.map((model) => {
    const points = rows.filter((r) => r.model === model).sort((a, b) => a.budget - b.budget);
    return { label: model, x: points.map((p) => 100 * p.budget), y: points.map((p) => p.winP50Pct) };
  });
  return lineChart(series, {
    title: 'Apparate median saving by ramp budget (load 0.7)',
    xLabel: 'ramp budget (% of the plain model latency)',
    yLabel: 'median saving (%)',
    xMax: 11,
  });
}
