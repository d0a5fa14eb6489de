/**
 * The evaluation's output shapes, as zod schemas with the types derived from them: one record per
 * measured run (every repeat, every SLO), the aggregate over repeats with its spread, and the
 * `summary.json` record the issue fixes field by field (model, policy, load; the primary SLO;
 * medians over repeats). Readers of `docs/evaluation/` (the schema test, later tooling) parse
 * with the same schemas the writer checks against.
 */
import { z } from 'zod';
import { maxOf, median, minOf } from '../../core/util/stats';
import { medianInterval } from './median-interval';
import { POLICY_NAMES } from './policies';

const quantiles = z.object({ p25: z.number(), p50: z.number(), p95: z.number() });
const cpuPerRequest = z.object({
  main: z.number(),
  lanes: z.number(),
  other: z.number(),
  client: z.number(),
});
export type CpuPerRequest = z.infer<typeof cpuPerRequest>;

/** Where a run's request time went (latency-parts.ts): medians over served requests, ms. */
const latencyParts = z.object({
  /** From arrival to its batch's start: queue and batching. */
  waitP50Ms: z.number(),
  /** From its batch's start to its first answer at the client: what an early exit shortens. */
  inBatchP50Ms: z.number(),
  /** Wall time of the run's batches (start to last final answer) per request they carried. */
  batchMsPerRequest: z.number(),
  /**
   * From the serving process releasing a request's first answer to the client receiving it: the
   * process's event loop, the IPC channel and the client's. Absent for the optimal (not served).
   */
  deliveryP50Ms: z.number().optional(),
});
export type LatencyParts = z.infer<typeof latencyParts>;

/** One line of `summary.json`: exactly the fields the issue names. */
export const summaryRecordSchema = z
  .object({
    model: z.string(),
    policy: z.enum(POLICY_NAMES),
    load: z.number(),
    latencyMs: quantiles.strict(),
    winsVsPlainPct: quantiles.strict(),
    agreement: z.number().min(0).max(1),
    worstWindowAgreement: z.number().min(0).max(1),
    throughputRatio: z.number(),
    fractionOfOptimal: z.number().nullable(),
  })
  .strict();
export type SummaryRecord = z.infer<typeof summaryRecordSchema>;
export const summarySchema = z.array(summaryRecordSchema);

/** One policy in one repeat of one (model, load, SLO) cell. */
export const runRecordSchema = z.object({
  model: z.string(),
  policy: z.enum(POLICY_NAMES),
  load: z.number(),
  sloMultiplier: z.number(),
  sloMs: z.number(),
  repeat: z.number().int(),
  requests: z.number().int(),
  served: z.number().int(),
  dropped: z.number().int(),
  latencyMs: quantiles.extend({ p99: z.number() }),
  winsVsPlainPct: quantiles,
  agreement: z.number(),
  worstWindowAgreement: z.number(),
  labelAccuracy: z.number(),
  exitRate: z.number(),
  throughputRps: z.number(),
  throughputRatio: z.number(),
  fractionOfOptimal: z.number().nullable(),
  configChanges: z.number().int(),
  /** Apparate: median ms from publishing a config to the first batch served under it. */
  configLagMs: z.number().nullable(),
  /** Apparate: published configs that changed the ramp set, each a session rebuild in the worker. */
  rampChanges: z.number().int(),
  /**
   * The ramp sets served, in order, the initial one first (ids, shallow to deep): what each of
   * `rampChanges` changed to. One set for the fixed policies; none for the replayed optimal.
   */
  rampSets: z.array(z.array(z.string())),
  /**
   * Requests per served batch, over the run: which regime the queue was in (small batches that
   * keep up, or the backlog that large batches carry), since a run's median follows it.
   */
  meanBatchSize: z.number(),
  /** Share of the rows its batches ran that were padding (batches are padded to the profiled sizes). */
  paddingShare: z.number().min(0).max(1),
  /**
   * CPU time per request, ms: the serving process's main thread (queue, batching, releases, the
   * live controller, the client's channel), its inference lanes, its other threads (V8's
   * collector helpers, libuv), and the client process's. Where a policy's batches run larger than the plain
   * model's under the same arrivals, this says which thread took the extra. Null for the optimal
   * (replayed, not served) and where per-thread counters are unreadable.
   */
  cpuMsPerRequest: cpuPerRequest.nullable(),
  /** Where the run's request time went; null where it served nothing. */
  latencyParts: latencyParts.nullable(),
});
export type RunRecord = z.infer<typeof runRecordSchema>;

const spread = z.object({ median: z.number(), min: z.number(), max: z.number() });
export type Spread = z.infer<typeof spread>;

/** A confidence interval for the median over repeats (median-interval.ts), with its exact coverage. */
const interval = z.object({
  low: z.number(),
  high: z.number(),
  coverage: z.number(),
  repeats: z.number().int(),
});

/** A cell's figures over its repeats: medians, with min–max of the headline ones. */
export const cellSchema = z.object({
  model: z.string(),
  policy: z.enum(POLICY_NAMES),
  load: z.number(),
  sloMultiplier: z.number(),
  sloMs: z.number(),
  repeats: z.number().int(),
  latencyMs: quantiles,
  winsVsPlainPct: quantiles,
  agreement: z.number(),
  worstWindowAgreement: z.number(),
  labelAccuracy: z.number(),
  exitRate: z.number(),
  throughputRatio: z.number(),
  fractionOfOptimal: z.number().nullable(),
  droppedPct: z.number(),
  configChanges: z.number(),
  configLagMs: z.number().nullable(),
  rampChanges: z.number(),
  meanBatchSize: z.number(),
  paddingShare: z.number(),
  /** Medians over the repeats that measured it; null where none did. */
  cpuMsPerRequest: cpuPerRequest.nullable(),
  /** Medians over the repeats that served something; null where none did. */
  latencyParts: latencyParts.nullable(),
  spread: z.object({
    latencyP50Ms: spread,
    winP50Pct: spread,
    winP95Pct: spread,
    agreement: spread,
    worstWindowAgreement: spread,
    throughputRatio: spread,
    fractionOfOptimal: spread.nullable(),
  }),
  /** Confidence intervals of the median wins over repeats, each repeat paired with its own plain run. */
  intervals: z.object({ winP50Pct: interval, winP95Pct: interval }),
});
export type Cell = z.infer<typeof cellSchema>;

function spreadOf(values: readonly number[]): Spread {
  return { median: median(values), min: minOf(values), max: maxOf(values) };
}

/**
 * Each field's median over the records that measured it (non-null); null where none did. The CPU
 * figures and the latency parts of a cell are both summarised this way.
 */
function medianOfEach<T extends Record<string, number>>(measured: readonly (T | null)[]): T | null {
  const present = measured.filter((m): m is T => m !== null);
  const first = present[0];
  if (first === undefined) return null;
  return Object.fromEntries(
    Object.keys(first).map((key) => [key, median(present.map((m) => m[key] as number))]),
  ) as T;
}

/** Groups run records by model, policy, load and SLO and summarises each group over its repeats. */
export function aggregateRuns(runs: readonly RunRecord[]): Cell[] {
  const groups = new Map<string, RunRecord[]>();
  for (const run of runs) {
    const key = `${run.model}|${run.policy}|${run.load}|${run.sloMultiplier}`;
    const list = groups.get(key) ?? [];
    list.push(run);
    groups.set(key, list);
  }
  return [...groups.values()].map((list) => {
    const first = list[0] as RunRecord;
    const med = (pick: (run: RunRecord) => number) => median(list.map(pick));
    const fractions = list.map((r) => r.fractionOfOptimal).filter((f): f is number => f !== null);
    const lags = list.map((r) => r.configLagMs).filter((f): f is number => f !== null);
    return {
      model: first.model,
      policy: first.policy,
      load: first.load,
      sloMultiplier: first.sloMultiplier,
      sloMs: med((r) => r.sloMs),
      repeats: list.length,
      latencyMs: {
        p25: med((r) => r.latencyMs.p25),
        p50: med((r) => r.latencyMs.p50),
        p95: med((r) => r.latencyMs.p95),
      },
      winsVsPlainPct: {
        p25: med((r) => r.winsVsPlainPct.p25),
        p50: med((r) => r.winsVsPlainPct.p50),
        p95: med((r) => r.winsVsPlainPct.p95),
      },
      agreement: med((r) => r.agreement),
      worstWindowAgreement: med((r) => r.worstWindowAgreement),
      labelAccuracy: med((r) => r.labelAccuracy),
      exitRate: med((r) => r.exitRate),
      throughputRatio: med((r) => r.throughputRatio),
      fractionOfOptimal: fractions.length > 0 ? median(fractions) : null,
      droppedPct: med((r) => (100 * r.dropped) / Math.max(1, r.requests)),
      configChanges: med((r) => r.configChanges),
      configLagMs: lags.length > 0 ? median(lags) : null,
      rampChanges: med((r) => r.rampChanges),
      meanBatchSize: med((r) => r.meanBatchSize),
      paddingShare: med((r) => r.paddingShare),
      cpuMsPerRequest: medianOfEach(list.map((r) => r.cpuMsPerRequest)),
      latencyParts: medianOfEach(list.map((r) => r.latencyParts)),
      spread: {
        latencyP50Ms: spreadOf(list.map((r) => r.latencyMs.p50)),
        winP50Pct: spreadOf(list.map((r) => r.winsVsPlainPct.p50)),
        winP95Pct: spreadOf(list.map((r) => r.winsVsPlainPct.p95)),
        agreement: spreadOf(list.map((r) => r.agreement)),
        worstWindowAgreement: spreadOf(list.map((r) => r.worstWindowAgreement)),
        throughputRatio: spreadOf(list.map((r) => r.throughputRatio)),
        fractionOfOptimal: fractions.length > 0 ? spreadOf(fractions) : null,
      },
      intervals: {
        winP50Pct: medianInterval(list.map((r) => r.winsVsPlainPct.p50)),
        winP95Pct: medianInterval(list.map((r) => r.winsVsPlainPct.p95)),
      },
    };
  });
}

/** The `summary.json` records: the primary SLO's cells, reduced to the fields. */
export function summaryRecords(cells: readonly Cell[], primarySloMultiplier: number): SummaryRecord[] {
  return summarySchema.parse(
    cells
      .filter((cell) => cell.sloMultiplier === primarySloMultiplier)
      .map((cell) => ({
        model: cell.model,
        policy: cell.policy,
        load: cell.load,
        latencyMs: cell.latencyMs,
        winsVsPlainPct: cell.winsVsPlainPct,
        agreement: cell.agreement,
        worstWindowAgreement: cell.worstWindowAgreement,
        throughputRatio: cell.throughputRatio,
        fractionOfOptimal: cell.fractionOfOptimal,
      })),
  );
}
