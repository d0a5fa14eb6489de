/**
 * The summary `apparate logs` prints for people: requests, exits per ramp, agreement overall and
 * per window against the constraint, released versus final latency, and the config versions that
 * served the range with what each changed.
 */
import { describeRamps, type ConfigVersionEntry } from '../../core/report/config-history';
import type { ExitLogSummary } from '../../core/report/exit-log-summary';
import { formatDuration } from './time-range';

const pct = (value: number): string => (Number.isNaN(value) ? '-' : `${(100 * value).toFixed(2)}%`);
const ms = (value: number): string => (Number.isNaN(value) ? '-' : `${value.toFixed(1)} ms`);
const iso = (epochMs: number): string => new Date(epochMs).toISOString().replace('.000Z', 'Z');

/** The report as lines of text. `configs` are the versions in force, oldest first. */
export function formatLogsReport(
  model: string,
  summary: ExitLogSummary,
  configs: readonly ConfigVersionEntry[],
): string {
  const lines: string[] = [
    `${model}: ${summary.requests} requests from ${iso(summary.fromMs)} to ${iso(summary.toMs)} (${summary.throughputPerS.toFixed(2)} req/s)`,
  ];
  if (summary.duplicates > 0) {
    lines.push(`  ${summary.duplicates} repeated servings of the same requests (redeliveries) counted once`);
  }
  lines.push(`  answered early: ${pct(summary.earlyRate)}`);
  lines.push('  exits:');
  const width = Math.max(...summary.exits.map((e) => e.exit.length));
  for (const exit of summary.exits) {
    lines.push(
      `    ${exit.exit.padEnd(width)}  ${String(exit.requests).padStart(7)}  ${pct(exit.rate).padStart(8)}`,
    );
  }
  const below = summary.windowsBelowConstraint;
  lines.push(
    `  agreement with the full model: ${pct(summary.agreement)} (constraint ${pct(summary.constraint)}; ${below} of ${summary.windows.length} windows of ${formatDuration(summary.windowMs)} below it)`,
  );
  for (const window of summary.windows) {
    lines.push(
      `    ${iso(window.fromMs)}  ${String(window.requests).padStart(6)} req  ${pct(window.agreement).padStart(8)}  ${window.meetsConstraint ? 'ok   ' : 'BELOW'}  config v${window.configVersions.join(', v')}`,
    );
  }
  lines.push('  latency from arrival   released      final');
  for (const q of ['p50', 'p95', 'p99'] as const) {
    lines.push(
      `    ${q}                ${ms(summary.releasedMs[q]).padStart(10)} ${ms(summary.finalMs[q]).padStart(10)}`,
    );
  }
  lines.push('  config versions in force:');
  const byVersion = new Map(configs.map((config) => [config.version, config]));
  for (const version of summary.versions) {
    const config = byVersion.get(version.version);
    const published =
      config?.publishedAtMs === undefined ? 'not published' : `published ${iso(config.publishedAtMs)}`;
    const change = config === undefined ? '' : config.change === 'first' ? '' : `, ${config.change} changed`;
    lines.push(
      `    v${version.version}  ${String(version.requests).padStart(6)} req  ${published}${change}: ${config === undefined ? 'config not found in the configs table' : describeRamps(config)}`,
    );
  }
  lines.push('');
  return lines.join('\n');
}
