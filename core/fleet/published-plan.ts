/**
 * A fleet plan as it is published: the planner's `FleetPlan` with a version, so that it can be
 * stored, superseded and followed like a ramp config (workers and dispatchers apply only versions
 * newer than the one they follow, so none ever goes back).
 */
import { z } from 'zod';
import { describeIssues, InputError } from '../errors';
import { fleetPlanSchema } from './plan';

export const publishedPlanSchema = z
  .object({
    /** Whole numbers from 0, increasing with every publish of the task's plan. */
    version: z.number().int().nonnegative(),
    /** When the plan was decided, epoch ms (the controller's clock). */
    decidedAtMs: z.number().nonnegative(),
    plan: fleetPlanSchema,
  })
  .strict();
export type VersionedPlan = z.infer<typeof publishedPlanSchema>;

/** Validates a versioned plan from a table, a file or another process. */
export function parseVersionedPlan(value: unknown): VersionedPlan {
  const parsed = publishedPlanSchema.safeParse(value);
  if (!parsed.success) {
    throw new InputError(`invalid versioned fleet plan: ${describeIssues(parsed.error.issues)}`);
  }
  return parsed.data;
}
