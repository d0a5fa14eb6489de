/**
 * The demo's report, computed from the answers the running stack gave. Every input runs through the
 * whole model, so each request's final answer arrives when the plain model's would have (plus the
 * worker's small overhead): the final latencies are the vanilla figures, and the released answer
 * (early when a ramp was confident, final otherwise) gives Apparate's. Both come from one replay,
 * so the comparison shares its arrivals, batches and machine load.
 */
import { worstWindowAgreement } from '../../core/simulator/metrics';
import { quantile } from '../../core/util/stats';

/** One request as the stack answered it. */
export interface DemoRecord {
  /** Worker-measured latency from enqueue to the early answer; absent when nothing exited early. */
  readonly earlyMs?: number;
  readonly earlyLabel?: string;
  /** Worker-measured latency from enqueue to the final answer. */
  readonly finalMs: number;
  readonly finalLabel: string;
  /** The data set's label for the input. */
  readonly trueLabel: string;
}

export interface LatencyQuantiles {
  readonly p25: number;
  readonly p50: number;
  readonly p95: number;
}

export interface DemoSummary {
  readonly requests: number;
  readonly exitRate: number;
  readonly vanillaMs: LatencyQuantiles;
  readonly apparateMs: LatencyQuantiles;
  /** Percentage saved at each quantile (positive = faster). */
  readonly winsPct: LatencyQuantiles;
  /** Released answers that equal the full model's. */
  readonly agreement: number;
  readonly worstWindowAgreement: number;
  /** Against the data set's labels. */
  readonly vanillaAccuracy: number;
  readonly apparateAccuracy: number;
}

function quantiles(values: readonly number[]): LatencyQuantiles {
  return { p25: quantile(values, 0.25), p50: quantile(values, 0.5), p95: quantile(values, 0.95) };
}

/** Summarises the answered requests, in the order they were sent. */
export function summariseDemo(records: readonly DemoRecord[]): DemoSummary {
  const released = records.map((r) => (r.earlyMs === undefined ? r.finalMs : Math.min(r.earlyMs, r.finalMs)));
  const releasedLabel = records.map((r) => r.earlyLabel ?? r.finalLabel);
  const agrees = records.map((r, i) => releasedLabel[i] === r.finalLabel);
  const vanillaMs = quantiles(records.map((r) => r.finalMs));
  const apparateMs = quantiles(released);
  const win = (mine: number, theirs: number) => 100 * (1 - mine / theirs);
  const share = (count: number) => count / Math.max(1, records.length);
  return {
    requests: records.length,
    exitRate: share(records.filter((r) => r.earlyMs !== undefined).length),
    vanillaMs,
    apparateMs,
    winsPct: {
      p25: win(apparateMs.p25, vanillaMs.p25),
      p50: win(apparateMs.p50, vanillaMs.p50),
      p95: win(apparateMs.p95, vanillaMs.p95),
    },
    agreement: share(agrees.filter(Boolean).length),
    worstWindowAgreement: worstWindowAgreement(agrees),
    vanillaAccuracy: share(records.filter((r) => r.finalLabel === r.trueLabel).length),
    apparateAccuracy: share(records.filter((r, i) => releasedLabel[i] === r.trueLabel).length),
  };
}

/** The report as the terminal shows it. */
export function formatDemoSummary(model: string, summary: DemoSummary): string {
  const ms = (value: number) => `${value.toFixed(1)} ms`.padStart(10);
  const pct = (value: number) => `${(100 * value).toFixed(2)}%`;
  const rows = (['p25', 'p50', 'p95'] as const).map(
    (q) =>
      `  ${q}   ${ms(summary.vanillaMs[q])}  ${ms(summary.apparateMs[q])}  ${`${summary.winsPct[q].toFixed(1)}%`.padStart(7)}`,
  );
  return [
    `${model}: ${summary.requests} requests, ${pct(summary.exitRate)} answered early`,
    `  latency   vanilla    apparate     win`,
    ...rows,
    `  agreement with the full model: ${pct(summary.agreement)} (worst window of 512: ${pct(summary.worstWindowAgreement)})`,
    `  accuracy on the data set's labels: vanilla ${pct(summary.vanillaAccuracy)}, apparate ${pct(summary.apparateAccuracy)}`,
    '',
  ].join('\n');
}
