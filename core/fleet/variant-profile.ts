/**
 * Measured profiles of a task's variants: what one worker of each variant does at each offered
 * rate, with exits off and with exits on at each agreement constraint. The planner reads only the
 * capacity at the SLO and the accuracy; the fleet simulator reads the whole curve. Profiles are
 * written by the profiling step (`npm run bench -- fleet-profile`) and committed, so planning and
 * simulation need neither models nor onnxruntime.
 */
import { z } from 'zod';
import { describeIssues, InputError } from '../errors';
import { HISTOGRAM_BINS, HISTOGRAM_MIN_MS, upperEdgeMs } from './latency-histogram';

/** Share of requests allowed over the SLO at a worker's capacity: InfAdapter's p99 ≤ SLO. */
export const CAPACITY_VIOLATION_PCT = 1;

/** Exits off, or on with the control loops holding agreement at this constraint. */
export const exitSettingSchema = z.union([
  z.literal('off'),
  z.object({ constraint: z.number().gt(0.5).lt(1) }).strict(),
]);
export type ExitSetting = z.infer<typeof exitSettingSchema>;

/** One measured point: a worker offered `rateRps` (Poisson) for a replay of the serving stream. */
export const curvePointSchema = z
  .object({
    rateRps: z.number().nonnegative(),
    /** Requests over the SLO or dropped, in percent of offered requests. */
    violationPct: z.number().min(0).max(100),
    /** Served requests per second (≤ rateRps). */
    throughputRps: z.number().nonnegative(),
    latencyMs: z.object({ p50: z.number(), p95: z.number(), p99: z.number() }).strict(),
    /** Latencies of served requests in the fixed log bins of `latency-histogram.ts`. */
    histogram: z.array(z.number().nonnegative()).length(HISTOGRAM_BINS),
    /** Dropped requests (deadline or queue full), in percent of offered requests. */
    droppedPct: z.number().min(0).max(100),
  })
  .strict();
export type CurvePoint = z.infer<typeof curvePointSchema>;

export const settingProfileSchema = z
  .object({
    exits: exitSettingSchema,
    /** Highest rate with at most CAPACITY_VIOLATION_PCT % of requests over the SLO (interpolated). */
    capacityRps: z.number().nonnegative(),
    /** Released answers equal to the data set's labels. */
    accuracy: z.number().min(0).max(1),
    /** Released answers equal to this variant's full model. */
    agreement: z.number().min(0).max(1),
    exitRate: z.number().min(0).max(1),
    /** Rates ascending. */
    curve: z.array(curvePointSchema).min(2),
  })
  .strict();
export type SettingProfile = z.infer<typeof settingProfileSchema>;

export const variantProfileSchema = z
  .object({
    name: z.string().min(1),
    parameters: z.number().int().positive().optional(),
    /** The full model's label accuracy over the serving stream. */
    accuracy: z.number().min(0).max(1),
    /** Median time to open the model's sessions and warm them, in seconds (measured). */
    loadSeconds: z.number().nonnegative(),
    /** Median plain-model batch latency by padded batch size, in ms. */
    batchLatencyMs: z.record(z.string(), z.number().positive()),
    settings: z.array(settingProfileSchema).min(1),
  })
  .strict();
export type VariantProfile = z.infer<typeof variantProfileSchema>;

export const taskProfilesSchema = z
  .object({
    task: z.string().min(1),
    sloMs: z.number().positive(),
    batching: z.enum(['tfserving', 'clockwork']),
    /** How and where the profiles were measured (machine, seed, repeats). */
    conditions: z.string(),
    variants: z.array(variantProfileSchema).min(1),
  })
  .strict();
export type TaskProfiles = z.infer<typeof taskProfilesSchema>;

/** Validates profiles read from a file or another process. */
export function parseTaskProfiles(value: unknown): TaskProfiles {
  const parsed = taskProfilesSchema.safeParse(value);
  if (!parsed.success) throw new InputError(`invalid fleet profiles: ${describeIssues(parsed.error.issues)}`);
  return parsed.data;
}

/** A short stable key for an exit setting, used in plans, tables and plots. */
export function exitKey(exits: ExitSetting): string {
  return exits === 'off' ? 'off' : `on@${exits.constraint}`;
}

/** Rate at which the curve first reaches `violationPct`, interpolated; the last rate if never. */
export function capacityAt(curve: readonly CurvePoint[], violationPct = CAPACITY_VIOLATION_PCT): number {
  let previous: CurvePoint | undefined;
  for (const point of curve) {
    if (point.violationPct > violationPct) {
      if (!previous) return 0;
      const span = point.violationPct - previous.violationPct;
      const share = span > 0 ? (violationPct - previous.violationPct) / span : 0;
      return previous.rateRps + share * (point.rateRps - previous.rateRps);
    }
    previous = point;
  }
  return previous?.rateRps ?? 0;
}

/**
 * What one worker does at `rateRps`: the measured point's figures interpolated linearly between
 * the two nearest measured rates. Above the highest measured rate the worker is saturated: it
 * serves what it served there and everything more is a violation (the batchers drop what can no
 * longer meet its deadline, so a backlog never outlives the SLO).
 */
export function pointAt(
  curve: readonly CurvePoint[],
  rateRps: number,
): {
  violationPct: number;
  mix: { point: CurvePoint; weight: number }[];
} {
  const first = curve[0] as CurvePoint;
  const last = curve[curve.length - 1] as CurvePoint;
  if (rateRps <= first.rateRps)
    return { violationPct: first.violationPct, mix: [{ point: first, weight: 1 }] };
  if (rateRps >= last.rateRps) {
    const servedOk = (last.rateRps * (100 - last.violationPct)) / 100;
    const violationPct = rateRps > 0 ? 100 * (1 - servedOk / rateRps) : 0;
    return { violationPct, mix: [{ point: last, weight: 1 }] };
  }
  for (let i = 1; i < curve.length; i++) {
    const high = curve[i] as CurvePoint;
    if (rateRps <= high.rateRps) {
      const low = curve[i - 1] as CurvePoint;
      const share = (rateRps - low.rateRps) / (high.rateRps - low.rateRps);
      return {
        violationPct: low.violationPct + share * (high.violationPct - low.violationPct),
        mix: [
          { point: low, weight: 1 - share },
          { point: high, weight: share },
        ],
      };
    }
  }
  return { violationPct: last.violationPct, mix: [{ point: last, weight: 1 }] };
}

/** Mean of a latency histogram, each bin at its geometric middle (NaN when empty). */
export function histogramMeanMs(counts: readonly number[]): number {
  let total = 0;
  let sum = 0;
  counts.forEach((count, bin) => {
    const low = bin === 0 ? HISTOGRAM_MIN_MS : upperEdgeMs(bin - 1);
    total += count;
    sum += count * Math.sqrt(low * upperEdgeMs(bin));
  });
  return total > 0 ? sum / total : Number.NaN;
}

/**
 * Mean latency of the answers one worker releases at `rateRps`, interpolated between measured
 * rates as `pointAt` does. A mean, not a quantile, because the mean of a traffic mix is the
 * traffic-weighted mean of its parts: that keeps the planner's latency term linear.
 */
export function meanLatencyAt(curve: readonly CurvePoint[], rateRps: number): number {
  return pointAt(curve, rateRps).mix.reduce(
    (sum, { point, weight }) => sum + weight * histogramMeanMs(point.histogram),
    0,
  );
}
