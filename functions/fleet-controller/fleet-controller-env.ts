/**
 * The fleet controller function's configuration, from the environment the CDK app sets, checked
 * by one schema so a malformed deployment fails on its first run naming the variable.
 */
import { z } from 'zod';
import { ENV } from '../../core/deployment/cloud-names';
import { describeIssues, InputError } from '../../core/errors';
import { taskIdSchema } from '../../core/fleet/tasks';

/** What the controller needs of each variant's deployment. */
export interface FleetVariant {
  /** Its worker group, whose desired capacity the controller sets. */
  readonly group: string;
  /** Its exit-logs table, whose batches are the variant's share of the load. */
  readonly exitLogsTable: string;
}

const fleetVariantsSchema = z
  .string()
  .transform((text, context) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      context.addIssue({
        code: 'custom',
        message: 'must be a JSON object of variant → { group, exitLogsTable }',
      });
      return z.NEVER;
    }
  })
  .pipe(
    z
      .record(
        z.string().min(1),
        z.object({ group: z.string().min(1), exitLogsTable: z.string().min(3) }).strict(),
      )
      .refine((groups) => Object.keys(groups).length > 0, 'names no variant'),
  );

const fleetControllerEnvSchema = z.object({
  [ENV.task]: taskIdSchema,
  [ENV.fleetVariants]: fleetVariantsSchema,
  [ENV.maxWorkers]: z.coerce.number().int().min(1).max(1000),
  [ENV.configsTable]: z.string().min(3),
});

export interface FleetControllerEnv {
  readonly task: string;
  readonly variants: Readonly<Record<string, FleetVariant>>;
  readonly maxWorkers: number;
  /** Where the task's plans are published. */
  readonly configsTable: string;
}

export function readFleetControllerEnv(
  variables: Readonly<Record<string, string | undefined>>,
): FleetControllerEnv {
  const parsed = fleetControllerEnvSchema.safeParse(variables);
  if (!parsed.success) {
    throw new InputError(`fleet controller environment is not valid: ${describeIssues(parsed.error.issues)}`);
  }
  const env = parsed.data;
  return {
    task: env[ENV.task],
    variants: env[ENV.fleetVariants],
    maxWorkers: env[ENV.maxWorkers],
    configsTable: env[ENV.configsTable],
  };
}
