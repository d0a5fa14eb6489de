/**
 * `apparate logs --plot`: agreement and latency over time in one SVG, two charts stacked, with a
 * dashed line wherever a new config version took over, so a dip or a jump can be read against the
 * threshold or ramp-set change that caused it.
 */
import { lineChart, type Series } from '../../core/report/svg-chart';
import type { ExitLogSummary, RequestRow } from '../../core/report/exit-log-summary';
import { quantile } from '../../core/util/stats';

const WIDTH = 760;
const CHART_HEIGHT = 380;

/** Minutes from the range's start, the plots' x axis. */
function minutesFrom(fromMs: number, ms: number): number {
  return (ms - fromMs) / 60_000;
}

/** Released and final latency quantiles per agreement window, at the window's middle. */
function latencySeries(rows: readonly RequestRow[], summary: ExitLogSummary): Series[] {
  const groups = new Map<number, RequestRow[]>();
  for (const row of rows) {
    const index = Math.floor((row.startedAtMs - summary.fromMs) / summary.windowMs);
    const group = groups.get(index) ?? [];
    group.push(row);
    groups.set(index, group);
  }
  const indices = [...groups.keys()].sort((a, b) => a - b);
  const x = indices.map((index) =>
    minutesFrom(summary.fromMs, summary.fromMs + (index + 0.5) * summary.windowMs),
  );
  const at = (pick: (row: RequestRow) => number, q: number): number[] =>
    indices.map((index) => quantile((groups.get(index) as RequestRow[]).map(pick), q));
  return [
    { label: 'released p50', x, y: at((row) => row.releasedMs, 0.5) },
    { label: 'final p50', x, y: at((row) => row.finalMs, 0.5) },
    { label: 'released p95', x, y: at((row) => row.releasedMs, 0.95) },
    { label: 'final p95', x, y: at((row) => row.finalMs, 0.95) },
  ];
}

/** The SVG document: agreement per window above, latency per window below. */
export function logsPlot(model: string, rows: readonly RequestRow[], summary: ExitLogSummary): string {
  const changes = summary.versions.slice(1);
  const markers = changes.map((version) => minutesFrom(summary.fromMs, version.firstMs));
  const markerNote =
    changes.length === 0
      ? ''
      : `; dashed: config ${changes.map((version) => `v${version.version}`).join(', ')} took over`;
  const xLabel = `minutes since ${new Date(summary.fromMs).toISOString()}${markerNote}`;
  const xMax = Math.max(1e-9, minutesFrom(summary.fromMs, summary.toMs));
  const windowX = summary.windows.map((w) => minutesFrom(summary.fromMs, (w.fromMs + w.toMs) / 2));
  const agreementValues = summary.windows.map((w) => w.agreement);
  const yMin = Math.min(summary.constraint, ...agreementValues) - 0.01;
  const agreement = lineChart(
    [
      { label: 'agreement', x: windowX, y: agreementValues },
      {
        label: `constraint ${summary.constraint}`,
        x: [0, xMax],
        y: [summary.constraint, summary.constraint],
      },
    ],
    {
      title: `${model}: agreement with the full model per ${Math.round(summary.windowMs / 1000)} s window`,
      xLabel,
      yLabel: 'agreement',
      width: WIDTH,
      height: CHART_HEIGHT,
      xMax,
      yMin: Math.max(0, yMin),
      yMax: 1,
      markers,
    },
  );
  const latency = lineChart(latencySeries(rows, summary), {
    title: `${model}: released versus final latency`,
    xLabel,
    yLabel: 'latency from arrival (ms)',
    width: WIDTH,
    height: CHART_HEIGHT,
    xMax,
    yMin: 0,
    markers,
  });
  const nest = (svg: string, y: number): string =>
    svg.replace('<svg xmlns="http://www.w3.org/2000/svg"', `<svg y="${y}"`).trimEnd();
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${2 * CHART_HEIGHT}" viewBox="0 0 ${WIDTH} ${2 * CHART_HEIGHT}">`,
    `<title>${model.replace(/&/g, '&amp;').replace(/</g, '&lt;')}: agreement and latency over time</title>`,
    nest(agreement, 0),
    nest(latency, CHART_HEIGHT),
    '</svg>',
    '',
  ].join('\n');
}
