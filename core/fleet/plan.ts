/**
 * The fleet plan: the planner's decision for one interval, as a documented, schema-validated value
 * that a dispatcher and an autoscaler can follow (and that the real fleet will publish like a ramp
 * config). Every group is one variant with one exit setting and a worker count; the dispatcher
 * splits a task's requests across groups by `weight`.
 */
import { z } from 'zod';
import { describeIssues, InputError } from '../errors';
import { exitSettingSchema } from './variant-profile';

export const planGroupSchema = z
  .object({
    variant: z.string().min(1),
    exits: exitSettingSchema,
    workers: z.number().int().nonnegative(),
    /** Share of the task's requests the dispatcher sends to this group (weights sum to 1). */
    weight: z.number().min(0).max(1),
    /** Requests per second the plan assigns to the group at the planned rate. */
    loadRps: z.number().nonnegative(),
    /** Capacity at the SLO of the group's workers together. */
    capacityRps: z.number().nonnegative(),
  })
  .strict();
export type PlanGroup = z.infer<typeof planGroupSchema>;

export const fleetPlanSchema = z
  .object({
    task: z.string().min(1),
    /** The forecast the plan was made for (peak requests per second of the next interval). */
    forecastRps: z.number().nonnegative(),
    /** The rate the plan serves: the forecast, or less when the forecast cannot be met. */
    plannedRps: z.number().nonnegative(),
    capacityRps: z.number().nonnegative(),
    /** False when the forecast exceeds what the worker budget can serve at the SLO. */
    feasible: z.boolean(),
    /** Why the plan is degraded, in words, when it is; absent otherwise. */
    degraded: z.string().optional(),
    groups: z.array(planGroupSchema),
    objective: z
      .object({
        /** Traffic-weighted label accuracy of the plan at the planned rate. */
        accuracy: z.number().min(0).max(1),
        workers: z.number().int().nonnegative(),
        /** Seconds of model loading the plan starts (new workers × their load time). */
        loadingSeconds: z.number().nonnegative(),
        /** Traffic-weighted mean latency the plan expects, ms, when its options carry latencies. */
        latencyMs: z.number().nonnegative().optional(),
        value: z.number(),
      })
      .strict(),
  })
  .strict();
export type FleetPlan = z.infer<typeof fleetPlanSchema>;

/** Validates a plan read from a table, a file or another process. */
export function parseFleetPlan(value: unknown): FleetPlan {
  const parsed = fleetPlanSchema.safeParse(value);
  if (!parsed.success) throw new InputError(`invalid fleet plan: ${describeIssues(parsed.error.issues)}`);
  return parsed.data;
}

/** Workers per variant (all exit settings together). */
export function workersByVariant(plan: Pick<FleetPlan, 'groups'>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const group of plan.groups)
    counts.set(group.variant, (counts.get(group.variant) ?? 0) + group.workers);
  return counts;
}
