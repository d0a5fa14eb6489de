/**
 * What an analyst or an operator wants to know from exit logs: how many requests, where they
 * exited, whether the released answers agreed with the full model (per time window, against the
 * constraint), how fast answers were released versus how fast the full model finished, and which
 * config versions served them. `apparate logs` and the dashboard both compute their figures here,
 * from the logged batches alone, so the two can never disagree about what a number means.
 *
 * The types below are the fields this needs, not the stored item: any logged batch with these
 * fields (the exit-log reader's items have them) can be summarised, and `core/` stays free of the
 * adapters.
 */
import { quantile } from '../util/stats';

/** The exit of a request that left at no ramp (the exit log's own spelling). */
export const FINAL_EXIT_ID = 'final';

export interface LoggedRamp {
  readonly id: string;
  readonly prediction: number;
}

export interface LoggedRequest {
  readonly requestId: string;
  /** The ramp it exited at, or `final`. */
  readonly exit: string;
  readonly releasedMs: number;
  readonly finalMs: number;
  readonly ramps: readonly LoggedRamp[];
  readonly finalPrediction: number;
}

export interface LoggedBatch {
  readonly batchId: string;
  readonly startedAtMs: number;
  readonly configVersion: number;
  readonly requests: readonly LoggedRequest[];
}

/** One request as exports and summaries see it: one row per request. */
export interface RequestRow {
  readonly requestId: string;
  readonly batchId: string;
  /** When its batch started, epoch ms. */
  readonly startedAtMs: number;
  readonly configVersion: number;
  readonly exit: string;
  /** The released answer's class index: the exit ramp's prediction, or the final one. */
  readonly releasedPrediction: number;
  readonly finalPrediction: number;
  /** Whether the released answer equals the full model's (true when it did not exit early). */
  readonly agrees: boolean;
  readonly releasedMs: number;
  readonly finalMs: number;
}

export interface RequestRows {
  readonly rows: RequestRow[];
  /** Requests logged more than once, counted once in `rows`. */
  readonly duplicates: number;
  /** Every ramp id seen, shallow to deep. */
  readonly rampOrder: readonly string[];
}

/**
 * One row per request, in batch-start order. Delivery is at least once, so a request served
 * twice (a redelivery after a lost acknowledgement) is logged twice; it is counted once, at its
 * first logged serving, and the repeats are reported in `duplicates`.
 */
export function requestRows(batches: readonly LoggedBatch[]): RequestRows {
  const seen = new Set<string>();
  const rows: RequestRow[] = [];
  const rampOrder: string[] = [];
  let duplicates = 0;
  const ordered = [...batches].sort((a, b) => a.startedAtMs - b.startedAtMs);
  for (const batch of ordered) {
    for (const request of batch.requests) {
      if (seen.has(request.requestId)) {
        duplicates++;
        continue;
      }
      seen.add(request.requestId);
      mergeOrder(rampOrder, request.ramps);
      const exitRamp =
        request.exit === FINAL_EXIT_ID ? undefined : request.ramps.find((ramp) => ramp.id === request.exit);
      const releasedPrediction = exitRamp?.prediction ?? request.finalPrediction;
      rows.push({
        requestId: request.requestId,
        batchId: batch.batchId,
        startedAtMs: batch.startedAtMs,
        configVersion: batch.configVersion,
        exit: exitRamp === undefined ? FINAL_EXIT_ID : request.exit,
        releasedPrediction,
        finalPrediction: request.finalPrediction,
        agrees: releasedPrediction === request.finalPrediction,
        releasedMs: request.releasedMs,
        finalMs: request.finalMs,
      });
    }
  }
  return { rows, duplicates, rampOrder };
}

/**
 * Adds the ids of one request's ramps (shallow to deep) to the known order: a new id goes right
 * after the id before it in this list, so ramps of different configs interleave by depth.
 */
function mergeOrder(order: string[], ramps: readonly LoggedRamp[]): void {
  let after = -1;
  for (const ramp of ramps) {
    const at = order.indexOf(ramp.id);
    if (at >= 0) {
      after = at;
      continue;
    }
    order.splice(after + 1, 0, ramp.id);
    after++;
  }
}

export interface LatencyQuantilesMs {
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
}

export interface ExitShare {
  /** A ramp id, or `final`. */
  readonly exit: string;
  readonly requests: number;
  /** Share of all requests, 0..1. */
  readonly rate: number;
}

export interface AgreementWindow {
  readonly fromMs: number;
  readonly toMs: number;
  readonly requests: number;
  readonly agreement: number;
  /** Agreement at or above the constraint. */
  readonly meetsConstraint: boolean;
  /** The config versions that served this window's requests, ascending. */
  readonly configVersions: readonly number[];
}

export interface VersionInForce {
  readonly version: number;
  readonly requests: number;
  /** Start of its first and last batch in the range, epoch ms. */
  readonly firstMs: number;
  readonly lastMs: number;
}

export interface ExitLogSummary {
  readonly fromMs: number;
  readonly toMs: number;
  readonly requests: number;
  /** Requests logged more than once (redeliveries), counted once above. */
  readonly duplicates: number;
  /** Requests per second over the range. */
  readonly throughputPerS: number;
  /** Share released at some ramp. */
  readonly earlyRate: number;
  /** Per exit: every ramp seen, shallow to deep, then `final`. */
  readonly exits: readonly ExitShare[];
  readonly constraint: number;
  /** Over the whole range. */
  readonly agreement: number;
  readonly windowMs: number;
  /** Windows with at least one request, oldest first. */
  readonly windows: readonly AgreementWindow[];
  /** Windows whose agreement is under the constraint. */
  readonly windowsBelowConstraint: number;
  /** From arrival to the released answer (early, or final when it did not exit). */
  readonly releasedMs: LatencyQuantilesMs;
  /** From arrival to the full model's answer. */
  readonly finalMs: LatencyQuantilesMs;
  readonly versions: readonly VersionInForce[];
}

export interface SummaryOptions {
  /** The range asked for, epoch ms, [fromMs, toMs). */
  readonly fromMs: number;
  readonly toMs: number;
  /** Agreement constraint, 0..1. */
  readonly constraint: number;
  /** Width of an agreement window, ms; windows are aligned to `fromMs`. */
  readonly windowMs: number;
}

function latencyQuantiles(values: readonly number[]): LatencyQuantilesMs {
  if (values.length === 0) return { p50: Number.NaN, p95: Number.NaN, p99: Number.NaN };
  return { p50: quantile(values, 0.5), p95: quantile(values, 0.95), p99: quantile(values, 0.99) };
}

/** The summary of request rows (from `requestRows`) over the range they were read for. */
export function summariseRows(logged: RequestRows, options: SummaryOptions): ExitLogSummary {
  const { rows, duplicates, rampOrder } = logged;
  const { fromMs, toMs, constraint, windowMs } = options;
  const count = rows.length;
  const share = (n: number): number => (count === 0 ? Number.NaN : n / count);

  const exitCounts = new Map<string, number>();
  for (const row of rows) exitCounts.set(row.exit, (exitCounts.get(row.exit) ?? 0) + 1);
  // Every ramp seen is listed, with zero where nobody exited, so a ramp that never fires shows.
  const exits: ExitShare[] = [...rampOrder, FINAL_EXIT_ID].map((exit) => {
    const requests = exitCounts.get(exit) ?? 0;
    return { exit, requests, rate: share(requests) };
  });

  const windows: AgreementWindow[] = [];
  const byWindow = new Map<number, { requests: number; agreeing: number; versions: Set<number> }>();
  for (const row of rows) {
    const index = Math.floor((row.startedAtMs - fromMs) / windowMs);
    const entry = byWindow.get(index) ?? { requests: 0, agreeing: 0, versions: new Set<number>() };
    entry.requests++;
    if (row.agrees) entry.agreeing++;
    entry.versions.add(row.configVersion);
    byWindow.set(index, entry);
  }
  for (const [index, entry] of [...byWindow.entries()].sort(([a], [b]) => a - b)) {
    const agreement = entry.agreeing / entry.requests;
    windows.push({
      fromMs: fromMs + index * windowMs,
      toMs: Math.min(toMs, fromMs + (index + 1) * windowMs),
      requests: entry.requests,
      agreement,
      meetsConstraint: agreement >= constraint,
      configVersions: [...entry.versions].sort((a, b) => a - b),
    });
  }

  const versions = new Map<number, { requests: number; firstMs: number; lastMs: number }>();
  for (const row of rows) {
    const entry = versions.get(row.configVersion);
    if (entry === undefined) {
      versions.set(row.configVersion, { requests: 1, firstMs: row.startedAtMs, lastMs: row.startedAtMs });
    } else {
      entry.requests++;
      entry.firstMs = Math.min(entry.firstMs, row.startedAtMs);
      entry.lastMs = Math.max(entry.lastMs, row.startedAtMs);
    }
  }

  return {
    fromMs,
    toMs,
    requests: count,
    duplicates,
    throughputPerS: toMs > fromMs ? count / ((toMs - fromMs) / 1000) : 0,
    earlyRate: share(rows.filter((row) => row.exit !== FINAL_EXIT_ID).length),
    exits,
    constraint,
    agreement: share(rows.filter((row) => row.agrees).length),
    windowMs,
    windows,
    windowsBelowConstraint: windows.filter((w) => !w.meetsConstraint).length,
    releasedMs: latencyQuantiles(rows.map((row) => row.releasedMs)),
    finalMs: latencyQuantiles(rows.map((row) => row.finalMs)),
    versions: [...versions.entries()]
      .sort(([a], [b]) => a - b)
      .map(([version, entry]) => ({ version, ...entry })),
  };
}

/** `requestRows` then `summariseRows`, for callers that need only the summary. */
export function summariseExitLogs(batches: readonly LoggedBatch[], options: SummaryOptions): ExitLogSummary {
  return summariseRows(requestRows(batches), options);
}
