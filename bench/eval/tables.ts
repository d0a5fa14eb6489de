/**
 * Markdown tables of a finished evaluation (`docs/evaluation/tables.md`), regenerated with the
 * JSON and the plots on every run, so the figures quoted in `docs/evaluation.md` can be checked
 * against the run that produced them.
 */
import type { MedianInterval } from './median-interval';
import type { Cell, Spread } from './results';

export interface AblationRow {
  readonly model: string;
  readonly budget: number;
  readonly initialRamps: readonly string[];
  readonly winP50Pct: Spread;
  readonly agreement: Spread;
  readonly worstWindowAgreement: Spread;
}

export interface DriftRow {
  readonly model: string;
  readonly policy: string;
  readonly winP50Pct: number;
  readonly agreement: number;
  readonly worstWindowAgreement: number;
  readonly noisyAgreement: number;
  readonly labelAccuracy: number;
  readonly configChanges: number;
}

const pct = (v: number, digits = 1): string => `${v.toFixed(digits)}%`;
const share = (v: number): string => `${(100 * v).toFixed(2)}%`;
const range = (s: Spread, format: (v: number) => string): string =>
  `${format(s.median)} (${format(s.min)} – ${format(s.max)})`;
/** A median with its confidence interval and the interval's coverage: `41.1% [-1.1% – 65.5%, 75%]`. */
const withInterval = (median: number, ci: MedianInterval): string =>
  `${pct(median)} [${pct(ci.low)} – ${pct(ci.high)}, ${(100 * ci.coverage).toFixed(0)}%]`;

/**
 * The main table: one row per model, load, SLO and policy; medians over repeats, latency with its
 * min – max, wins with a confidence interval of their median and that interval's coverage.
 */
export function mainTable(cells: readonly Cell[]): string {
  const header = [
    '| model | load | SLO | policy | p25 ms | p50 ms (min – max) | p95 ms | p50 win [interval, coverage] | p95 win [interval, coverage] | agreement | worst window | label accuracy | throughput ratio | of optimal | dropped | batch | padding | CPU ms/req: main, lanes, other, client | p50 ms waiting, in batch (release to client); batch ms/req |',
    '| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const order = ['plain', 'apparate', 'static', 'optimal'];
  const sorted = [...cells].sort(
    (a, b) =>
      a.model.localeCompare(b.model) ||
      a.load - b.load ||
      a.sloMultiplier - b.sloMultiplier ||
      order.indexOf(a.policy) - order.indexOf(b.policy),
  );
  const rows = sorted.map((c) =>
    [
      c.model,
      c.load,
      `${c.sloMultiplier}x (${c.sloMs.toFixed(0)} ms)`,
      c.policy === 'apparate' ? '**Apparate**' : c.policy,
      c.latencyMs.p25.toFixed(1),
      range(c.spread.latencyP50Ms, (v) => v.toFixed(1)),
      c.latencyMs.p95.toFixed(1),
      c.policy === 'plain' ? '—' : withInterval(c.spread.winP50Pct.median, c.intervals.winP50Pct),
      c.policy === 'plain' ? '—' : withInterval(c.winsVsPlainPct.p95, c.intervals.winP95Pct),
      share(c.agreement),
      share(c.worstWindowAgreement),
      share(c.labelAccuracy),
      c.throughputRatio.toFixed(3),
      c.fractionOfOptimal === null || c.spread.fractionOfOptimal === null
        ? '—'
        : range(c.spread.fractionOfOptimal, (v) => v.toFixed(2)),
      pct(c.droppedPct, 2),
      c.meanBatchSize.toFixed(1),
      pct(100 * c.paddingShare, 0),
      c.cpuMsPerRequest === null
        ? '—'
        : [c.cpuMsPerRequest.main, c.cpuMsPerRequest.lanes, c.cpuMsPerRequest.other, c.cpuMsPerRequest.client]
            .map((v) => v.toFixed(3))
            .join(', '),
      c.latencyParts === null
        ? '—'
        : `${c.latencyParts.waitP50Ms.toFixed(1)}, ${c.latencyParts.inBatchP50Ms.toFixed(1)}${c.latencyParts.deliveryP50Ms === undefined ? '' : ` (${c.latencyParts.deliveryP50Ms.toFixed(1)})`}; ${c.latencyParts.batchMsPerRequest.toFixed(2)}`,
    ].join(' | '),
  );
  return [...header, ...rows.map((r) => `| ${r} |`)].join('\n');
}

export function ablationTable(rows: readonly AblationRow[]): string {
  return [
    '| model | ramp budget | initial ramps | p50 win (min – max) | agreement (min – max) | worst window |',
    '| --- | ---: | --- | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.model} | ${pct(100 * r.budget, 0)} | ${r.initialRamps.join(', ') || 'none'} | ${range(r.winP50Pct, (v) => pct(v))} | ${range(r.agreement, share)} | ${share(r.worstWindowAgreement.median)} |`,
    ),
  ].join('\n');
}

export function driftTable(rows: readonly DriftRow[]): string {
  return [
    '| model | policy | p50 win | agreement | worst window | agreement on noisy inputs | label accuracy | config changes |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.model} | ${r.policy} | ${pct(r.winP50Pct)} | ${share(r.agreement)} | ${share(r.worstWindowAgreement)} | ${share(r.noisyAgreement)} | ${share(r.labelAccuracy)} | ${r.configChanges} |`,
    ),
  ].join('\n');
}
