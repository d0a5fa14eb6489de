/**
 * The fleet controller function's configuration, from the environment the CDK app sets, read with
 * the functions' environment reader (`../env.ts`) so a malformed deployment fails on its first run
 * naming the variable and what it must hold.
 */
import { z } from 'zod';
import { ENV } from '../../core/deployment/cloud-names';
import { taskIdSchema } from '../../core/fleet/tasks';
import { configsTableVariable, readEnvironment, requiredInteger, requiredJson, requiredText } from '../env';

/** What the controller needs of each variant's deployment. */
export interface FleetVariant {
  /** Its worker group, whose desired capacity the controller sets. */
  readonly group: string;
  /** Its exit-logs table, whose batches are the variant's share of the load. */
  readonly exitLogsTable: string;
}

const VARIANTS = 'a JSON object of variant → { group, exitLogsTable }';

const fleetControllerVariables = {
  [ENV.task]: requiredText('the task the fleet serves').pipe(taskIdSchema),
  [ENV.fleetVariants]: requiredJson(
    VARIANTS,
    z
      .record(
        z.string().min(1),
        z.object({ group: z.string().min(1), exitLogsTable: z.string().min(3) }).strict(),
      )
      .refine((groups) => Object.keys(groups).length > 0, `names no variant; it must hold ${VARIANTS}`),
  ),
  [ENV.maxWorkers]: requiredInteger(1, 1000, 'workers'),
  ...configsTableVariable,
};

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
  const env = readEnvironment('fleet controller', fleetControllerVariables, variables);
  return {
    task: env[ENV.task],
    variants: env[ENV.fleetVariants],
    maxWorkers: env[ENV.maxWorkers],
    configsTable: env[ENV.configsTable],
  };
}
