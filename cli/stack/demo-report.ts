/**
 * The demo's report, computed from the answers the running stack gave. Every input runs through the
 * whole model, so each request's final answer arrives when the plain model's would have (plus the
 * worker's small overhead): the final latencies are the plain figures, and the released answer
 * (early when a ramp was confident, final otherwise) gives Apparate's. Both come from one replay,
 * so the comparison shares its arrivals, batches and machine load. The table is on the worker's
 * clock (what early exits change); the client's view of the same answers, HTTP and API included,
 * follows it, with the API's overhead between the two.
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
  /** Client-observed: from the request's planned send to the early event, and to the final one. */
  readonly clientEarlyMs?: number;
  readonly clientFinalMs?: number;
}

export interface LatencyQuantiles {
  readonly p25: number;
  readonly p50: number;
  readonly p95: number;
}

export interface DemoSummary {
  readonly requests: number;
  readonly exitRate: number;
  readonly plainMs: LatencyQuantiles;
  readonly apparateMs: LatencyQuantiles;
  /** Percentage saved at each quantile (positive = faster). */
  readonly winsPct: LatencyQuantiles;
  /** Released answers that equal the full model's. */
  readonly agreement: number;
  readonly worstWindowAgreement: number;
  /** The same two as the client saw them (absent for records without client times). */
  readonly clientPlainMs?: LatencyQuantiles;
  readonly clientApparateMs?: LatencyQuantiles;
  /** Client latency of the first answer minus the worker's, per request, at the median: the API's cost. */
  readonly apiOverheadMsP50?: number;
  /** Against the data set's labels. */
  readonly plainAccuracy: number;
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
  const plainMs = quantiles(records.map((r) => r.finalMs));
  const apparateMs = quantiles(released);
  const win = (mine: number, theirs: number) => 100 * (1 - mine / theirs);
  const share = (count: number) => count / Math.max(1, records.length);
  const timed = records.filter((r) => r.clientFinalMs !== undefined);
  const clientReleased = timed.map((r) =>
    r.clientEarlyMs === undefined
      ? (r.clientFinalMs as number)
      : Math.min(r.clientEarlyMs, r.clientFinalMs as number),
  );
  const workerReleased = timed.map((r) =>
    r.earlyMs === undefined ? r.finalMs : Math.min(r.earlyMs, r.finalMs),
  );
  const client =
    timed.length === 0
      ? {}
      : {
          clientPlainMs: quantiles(timed.map((r) => r.clientFinalMs as number)),
          clientApparateMs: quantiles(clientReleased),
          apiOverheadMsP50: quantile(
            clientReleased.map((ms, i) => ms - (workerReleased[i] as number)),
            0.5,
          ),
        };
  return {
    ...client,
    requests: records.length,
    exitRate: share(records.filter((r) => r.earlyMs !== undefined).length),
    plainMs,
    apparateMs,
    winsPct: {
      p25: win(apparateMs.p25, plainMs.p25),
      p50: win(apparateMs.p50, plainMs.p50),
      p95: win(apparateMs.p95, plainMs.p95),
    },
    agreement: share(agrees.filter(Boolean).length),
    worstWindowAgreement: worstWindowAgreement(agrees),
    plainAccuracy: share(records.filter((r) => r.finalLabel === r.trueLabel).length),
    apparateAccuracy: share(records.filter((r, i) => releasedLabel[i] === r.trueLabel).length),
  };
}

/** The report as the terminal shows it. */
export function formatDemoSummary(model: string, summary: DemoSummary): string {
  const ms = (value: number) => `${value.toFixed(1)} ms`.padStart(10);
  const pct = (value: number) => `${(100 * value).toFixed(2)}%`;
  const rows = (['p25', 'p50', 'p95'] as const).map(
    (q) =>
      `  ${q}   ${ms(summary.plainMs[q])}  ${ms(summary.apparateMs[q])}  ${`${summary.winsPct[q].toFixed(1)}%`.padStart(7)}`,
  );
  return [
    `${model}: ${summary.requests} requests, ${pct(summary.exitRate)} answered early`,
    `  latency   plain      apparate     win`,
    ...rows,
    ...(summary.clientPlainMs === undefined || summary.clientApparateMs === undefined
      ? []
      : [
          `  as the client saw it (HTTP included): p50 plain ${ms(summary.clientPlainMs.p50).trim()}, apparate ${ms(summary.clientApparateMs.p50).trim()}; p95 plain ${ms(summary.clientPlainMs.p95).trim()}, apparate ${ms(summary.clientApparateMs.p95).trim()}`,
          `  API overhead (client minus worker time of the first answer), median: ${(summary.apiOverheadMsP50 ?? Number.NaN).toFixed(2)} ms`,
        ]),
    `  agreement with the full model: ${pct(summary.agreement)} (worst window of 512: ${pct(summary.worstWindowAgreement)})`,
    `  accuracy on the data set's labels: plain ${pct(summary.plainAccuracy)}, apparate ${pct(summary.apparateAccuracy)}`,
    '',
  ].join('\n');
}
