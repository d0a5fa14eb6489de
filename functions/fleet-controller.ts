/**
 * The fleet controller Lambda: an EventBridge rule invokes it every minute for one task; each run
 * measures the load, forecasts with InfAdapter's LSTM (+10%), plans, publishes the plan and sets each
 * variant's Auto Scaling group to the planned worker count (`runFleetController`). The planning
 * options (each variant's capacity at the SLO, accuracy and load time per exit setting) come from
 * the task's committed profiles (digits and spam) and the forecaster's weights from the zoo, all
 * bundled at build.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { AutoScalingCapacity } from '../adapters/autoscaling';
import { documentClientFor, ExitLogReader, PlanStore } from '../adapters/dynamo';
import { InputError } from '../core/errors';
import { lstmForecaster, lstmWeightsSchema } from '../core/fleet/lstm-forecaster';
import { planningOptions } from '../core/fleet/planner';
import { TASK_DATASETS } from '../core/fleet/tasks';
import { parseTaskProfiles, type TaskProfiles } from '../core/fleet/variant-profile';
import { jsonLinesLogger } from '../core/util/json-lines-logger';
import lstmWeights from '../zoo/forecaster/lstm.json';
import mnistProfiles from '../zoo/profiles/mnist.json';
import spamProfiles from '../zoo/profiles/spam.json';
import { readFleetControllerEnv } from './fleet-controller/fleet-controller-env';
import { runFleetController, type FleetControllerReport } from './fleet-controller/run-fleet-controller';

/** The profiled data sets, by name; a task whose data set is missing here cannot be planned. */
const PROFILES: Readonly<Record<string, unknown>> = { mnist: mnistProfiles, spam: spamProfiles };

/** InfAdapter decides every minute. */
export const FLEET_PERIOD_MS = 60_000;

export function profilesOfTask(task: string): TaskProfiles {
  const dataset = TASK_DATASETS[task];
  const profiles = dataset === undefined ? undefined : PROFILES[dataset];
  if (profiles === undefined) {
    throw new InputError(
      `task ${task} has no fleet profiles bundled; profiled data sets: ${Object.keys(PROFILES).join(', ')}`,
    );
  }
  return parseTaskProfiles(profiles);
}

let wired: (() => Promise<FleetControllerReport>) | undefined;

function wire(): () => Promise<FleetControllerReport> {
  const env = readFleetControllerEnv(process.env);
  const dynamo = documentClientFor(new DynamoDBClient({}));
  const options = planningOptions(profilesOfTask(env.task));
  const forecaster = lstmForecaster(lstmWeightsSchema.parse(lstmWeights));
  const plans = new PlanStore({ client: dynamo, tableName: env.configsTable });
  // Each variant's deployment has its own exit-logs table.
  const readers = new Map(
    Object.entries(env.variants).map(([variant, { exitLogsTable }]) => [
      variant,
      new ExitLogReader({ client: dynamo, tableName: exitLogsTable }),
    ]),
  );
  const exitLogs = {
    since: (model: string, sinceMs: number, untilMs?: number) =>
      readers.get(model)?.since(model, sinceMs, untilMs) ?? Promise.resolve([]),
  };
  const capacity = new AutoScalingCapacity({
    groups: Object.fromEntries(Object.entries(env.variants).map(([variant, { group }]) => [variant, group])),
  });
  const logger = jsonLinesLogger(process.stdout, { function: 'fleet-controller', task: env.task });
  return () =>
    runFleetController({
      task: env.task,
      variants: Object.keys(env.variants),
      plans,
      exitLogs,
      capacity,
      options,
      forecaster,
      settings: { maxWorkers: env.maxWorkers },
      periodMs: FLEET_PERIOD_MS,
      nowMs: Date.now(),
      logger,
    });
}

export async function handler(): Promise<FleetControllerReport> {
  wired ??= wire();
  return wired();
}
