/**
 * The fleet demo's report: a table per trace hour (forecast, plan, answers per variant), the day's
 * figures, and an SVG plot of the pool's workers per variant over the replay.
 */
import { lineChart } from '../../core/report/svg-chart';
import type { FleetDemoReport } from './fleet-demo';

function pct(value: number): string {
  return `${(100 * value).toFixed(1)}%`;
}

export function formatFleetDemo(report: FleetDemoReport): string {
  const variants = Object.keys(report.workersOverTime);
  const lines = [
    `Fleet demo, task ${report.task}: ${report.conditions}`,
    '',
    ['hour', 'trace peak', 'forecast', 'plan', ...variants.map((v) => `workers/weight/answered ${v}`)].join(
      ' | ',
    ),
  ];
  for (const row of report.intervals) {
    const total = Object.values(row.answered).reduce((a, b) => a + b, 0);
    lines.push(
      [
        String(row.hour).padStart(2),
        String(row.tracePeak),
        row.forecastRps.toFixed(0),
        `v${row.planVersion}${row.decision === 'kept' ? ' (kept)' : ''}`,
        ...variants.map((v) => {
          const planned = row.plan[v] ?? { workers: 0, weight: 0 };
          const share = total === 0 ? 0 : (row.answered[v] ?? 0) / total;
          return `${planned.workers} / ${pct(planned.weight)} / ${pct(share)}`;
        }),
      ].join(' | '),
    );
  }
  lines.push(
    '',
    `requests ${report.requests}, failed ${report.failed}; SLO ${report.sloMs.toFixed(1)} ms violated by ${report.sloViolationPct.toFixed(2)}% (client time) / ${report.workerSloViolationPct.toFixed(2)}% (worker time)`,
    `latency p50 ${report.latencyMs.p50.toFixed(1)} ms, p95 ${report.latencyMs.p95.toFixed(1)} ms (client); worker-seconds ${report.workerSeconds.toFixed(0)}; label accuracy ${pct(report.accuracy)}`,
    `largest gap between a variant's share of an hour's answers and its weight: ${(100 * report.maxMixError).toFixed(2)} points`,
    `load time per worker start (mean): ${Object.entries(report.loadSeconds)
      .map(([v, s]) => `${v} ${(1000 * s).toFixed(0)} ms`)
      .join(', ')}`,
    '',
  );
  return lines.join('\n');
}

/** Workers per variant and in all over the replay's wall time. */
export function fleetDemoPlot(report: FleetDemoReport): string {
  const entries = Object.entries(report.workersOverTime);
  const first = entries[0]?.[1] ?? [];
  const total = first.map(
    ([t], i) =>
      [t, entries.reduce((sum, [, s]) => sum + ((s[i] as readonly [number, number])?.[1] ?? 0), 0)] as const,
  );
  const series = [
    ...entries.map(([variant, points]) => ({
      label: variant,
      x: points.map(([t]) => t),
      y: points.map(([, w]) => w),
      step: true,
    })),
    { label: 'all workers', x: total.map(([t]) => t), y: total.map(([, w]) => w), step: true },
  ];
  return lineChart(series, {
    title: `Local pool following the plan: task ${report.task}, a compressed day`,
    xLabel: 'seconds of replay (one trace hour per interval)',
    yLabel: 'workers',
    yMin: 0,
    width: 820,
  });
}
