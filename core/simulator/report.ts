/**
 * Human-readable outputs of a simulation: the per-policy table (terminal and Markdown), the JSON
 * record the CLI prints, and SVG figures (latency CDFs of all policies; Apparate's agreement over
 * time with its config changes marked).
 */
import { cdfSeries, lineChart } from '../report/svg-chart';
import { AGREEMENT_WINDOW } from './metrics';
import type { SimulationResult } from './simulate';

/** The machine-readable record per policy that `simulate --json` prints. */
export function policyRecords(result: SimulationResult) {
  return result.policies.map((p) => ({
    policy: p.policy,
    latencyMs: p.latencyMs,
    winsVsPlainPct: p.winsVsPlainPct,
    agreement: p.agreement,
    worstWindowAgreement: p.worstWindowAgreement,
    dropped: p.dropped,
    throughputRps: p.throughputRps,
    throughputRatio: p.throughputRatio,
    fractionOfOptimal: p.fractionOfOptimal,
    exitRate: p.exitRate,
    rampChanges: p.rampChanges,
    thresholdUpdates: p.thresholdUpdates,
  }));
}

const COLUMNS = [
  'policy',
  'p25 ms',
  'p50 ms',
  'p95 ms',
  'p99 ms',
  'win p50',
  'win p95',
  'agreement',
  'worst win.',
  'dropped',
  'thr. ratio',
  'of optimal',
];

function rows(result: SimulationResult): string[][] {
  return result.policies.map((p) => [
    p.policy,
    p.latencyMs.p25.toFixed(2),
    p.latencyMs.p50.toFixed(2),
    p.latencyMs.p95.toFixed(2),
    p.latencyMs.p99.toFixed(2),
    `${p.winsVsPlainPct.p50.toFixed(1)}%`,
    `${p.winsVsPlainPct.p95.toFixed(1)}%`,
    `${(p.agreement * 100).toFixed(2)}%`,
    `${(p.worstWindowAgreement * 100).toFixed(2)}%`,
    String(p.dropped),
    p.throughputRatio.toFixed(3),
    p.fractionOfOptimal === null ? '-' : p.fractionOfOptimal.toFixed(2),
  ]);
}

/** The batching policy as the reports name it: the clockwork policy with its fill. */
function batchingLabel(settings: SimulationResult['settings']): string {
  return settings.batching === 'clockwork'
    ? `${settings.batching} (${settings.batchFill} fill)`
    : settings.batching;
}

/** A fixed-width table for the terminal. */
export function formatTable(result: SimulationResult): string {
  const body = rows(result);
  const widths = COLUMNS.map((c, i) => Math.max(c.length, ...body.map((r) => (r[i] as string).length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padStart(widths[i] as number)).join('  ');
  const { settings } = result;
  return [
    `${result.model}: ${settings.requests} requests, ${settings.workload}`,
    `batching ${batchingLabel(settings)}, SLO ${settings.sloMs.toFixed(1)} ms, constraint ${settings.accuracyConstraint}, drift ${settings.drift}`,
    '',
    line(COLUMNS),
    ...body.map(line),
    '',
  ].join('\n');
}

/** The same table in Markdown, with the settings above it. */
export function markdownTable(result: SimulationResult): string {
  const { settings } = result;
  return [
    `# Simulation of ${result.model}`,
    '',
    `- workload: ${settings.workload}; ${settings.requests} requests after ${settings.bootstrapInputs} bootstrap inputs`,
    `- batching: ${batchingLabel(settings)}; SLO ${settings.sloMs.toFixed(1)} ms; accuracy constraint ${settings.accuracyConstraint}; drift ${settings.drift}; seed ${settings.seed}`,
    '',
    `| ${COLUMNS.join(' | ')} |`,
    `|${COLUMNS.map(() => '---').join('|')}|`,
    ...rows(result).map((r) => `| ${r.join(' | ')} |`),
    '',
    'Latency is queueing plus serving until the answer is released. Wins are against the plain model at the same quantile.',
    `Worst window: lowest agreement over ${AGREEMENT_WINDOW} consecutive served requests.`,
    '',
  ].join('\n');
}

/** SVG of every policy's latency CDF. */
export function latencyCdfSvg(result: SimulationResult): string {
  const series = Object.entries(result.latencies).map(([name, values]) => cdfSeries(name, values));
  const p99 = Math.max(...result.policies.map((p) => p.latencyMs.p99), 1);
  return lineChart(series, {
    title: `${result.model}: serving latency CDF (${result.settings.batching}, load from ${result.settings.workload.split('(')[1]?.replace(')', '') ?? ''})`,
    xLabel: 'latency (ms)',
    yLabel: 'fraction of requests',
    yMin: 0,
    yMax: 1,
    xMax: p99 * 1.05,
  });
}

/** SVG of a policy's agreement over sliding windows of served requests, config changes marked. */
export function agreementSvg(
  result: SimulationResult,
  policies: readonly string[] = ['apparate', 'static'],
): string {
  const series = policies
    .filter((name) => result.timelines[name])
    .map((name) => {
      const timeline = result.timelines[name] as { agrees: boolean[]; releaseAtMs: number[] };
      const x: number[] = [];
      const y: number[] = [];
      const size = Math.min(AGREEMENT_WINDOW, timeline.agrees.length);
      let inWindow = 0;
      timeline.agrees.forEach((agree, i) => {
        if (agree) inWindow++;
        if (i >= size && timeline.agrees[i - size]) inWindow--;
        if (i >= size - 1) {
          x.push((timeline.releaseAtMs[i] as number) / 1000);
          y.push(inWindow / size);
        }
      });
      return { label: name, x, y };
    });
  const markers = (result.timelines.apparate?.configChangesMs ?? []).map((ms) => ms / 1000);
  return lineChart(series, {
    title: `${result.model}: agreement over the last ${AGREEMENT_WINDOW} requests (config changes dashed)`,
    xLabel: 'time (s)',
    yLabel: 'agreement with the full model',
    yMax: 1,
    markers,
  });
}
