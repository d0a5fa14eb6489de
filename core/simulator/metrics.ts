/**
 * Summaries of a replay: latency quantiles of served requests (queueing plus serving, until the
 * answer is released), agreement with the full model overall and in its worst window, drops and
 * throughput, and wins against the plain model at the same quantiles.
 */
import { maxOf, quantile } from '../util/stats';
import type { RequestOutcome } from './replay';

/** Inputs per window when looking for the worst stretch of agreement: the controller's window, over which the constraint is defined. */
export const AGREEMENT_WINDOW = 512;

export interface LatencySummary {
  readonly p25: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
}

export interface PolicySummary {
  readonly policy: string;
  readonly served: number;
  readonly dropped: number;
  readonly latencyMs: LatencySummary;
  readonly agreement: number;
  readonly worstWindowAgreement: number;
  readonly throughputRps: number;
  readonly exitRate: number;
}

/** Latency of each served request in arrival order. */
export function servedLatencies(outcomes: readonly RequestOutcome[]): number[] {
  return outcomes
    .filter((o) => o.releaseAtMs !== undefined)
    .map((o) => (o.releaseAtMs as number) - o.arrivalMs);
}

/** Lowest agreement over any `window` consecutive served requests (overall agreement if fewer). */
export function worstWindowAgreement(agrees: readonly boolean[], window = AGREEMENT_WINDOW): number {
  if (agrees.length === 0) return Number.NaN;
  const size = Math.min(window, agrees.length);
  let inWindow = 0;
  for (let i = 0; i < size; i++) if (agrees[i]) inWindow++;
  let worst = inWindow;
  for (let i = size; i < agrees.length; i++) {
    if (agrees[i]) inWindow++;
    if (agrees[i - size]) inWindow--;
    worst = Math.min(worst, inWindow);
  }
  return worst / size;
}

/** Summarises one policy's replay. */
export function summarise(policy: string, outcomes: readonly RequestOutcome[]): PolicySummary {
  const served = outcomes.filter((o) => o.releaseAtMs !== undefined);
  const latencies = servedLatencies(outcomes);
  const agrees = served.map((o) => o.agrees === true);
  const first = outcomes[0]?.arrivalMs ?? 0;
  const last = maxOf(
    served.map((o) => o.releaseAtMs as number),
    first,
  );
  return {
    policy,
    served: served.length,
    dropped: outcomes.length - served.length,
    latencyMs: {
      p25: quantile(latencies, 0.25),
      p50: quantile(latencies, 0.5),
      p95: quantile(latencies, 0.95),
      p99: quantile(latencies, 0.99),
    },
    agreement: agrees.filter(Boolean).length / Math.max(1, agrees.length),
    worstWindowAgreement: worstWindowAgreement(agrees),
    throughputRps: served.length / Math.max(1e-9, (last - first) / 1000),
    exitRate: served.filter((o) => (o.exitAt ?? -1) >= 0).length / Math.max(1, served.length),
  };
}

/** Percentage saved against the plain model at each quantile (positive = faster). */
export function winsVersus(
  summary: LatencySummary,
  plain: LatencySummary,
): { p25: number; p50: number; p95: number } {
  const win = (mine: number, theirs: number) => 100 * (1 - mine / theirs);
  return {
    p25: win(summary.p25, plain.p25),
    p50: win(summary.p50, plain.p50),
    p95: win(summary.p95, plain.p95),
  };
}
