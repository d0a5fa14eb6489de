/**
 * A task served by several variants on AWS: each variant is its own `ApparateServing` deployment
 * (its queue, worker group, tables and controller) with `workerCapacity: 'planned'`, and this
 * construct adds the task's fleet controller: a function run every minute that forecasts the task's
 * load from its variants' exit logs, plans, publishes the plan in the first variant's configs
 * table, and sets each variant's worker group to the planned count. Why one group per variant rather
 * than instances reading their assignment: docs/deploy.md.
 */
import { join } from 'node:path';
import { Duration, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { ENV } from '../core/deployment/cloud-names';
import { InputError } from '../core/errors';
import { taskIdSchema } from '../core/fleet/tasks';
import type { ApparateServing } from './apparate-serving';
import { HandlerFunction, REPOSITORY_ROOT } from './handler-function';
import { acknowledgeGroupArn, autoScalingGroupArn } from './worker-fleet';

export interface TaskFleetProps {
  /** The task's name (`digits`, `spam`); its profiles must be bundled with the function. */
  readonly task: string;
  /** One deployment per variant, each with `workerCapacity: 'planned'`. */
  readonly variants: readonly ApparateServing[];
  /** The worker budget over all variants, 1 to 1000. */
  readonly maxWorkers: number;
  /** The function's entry file; tests give a stub so synthesis does not bundle. */
  readonly functionEntry?: string;
}

export class TaskFleet extends Construct {
  readonly controller: HandlerFunction;
  readonly schedule: events.Rule;
  /** Where the plans are published: the first variant's configs table. */
  readonly plansTable: dynamodb.ITable;

  constructor(scope: Construct, id: string, props: TaskFleetProps) {
    super(scope, id);
    const task = taskIdSchema.safeParse(props.task);
    if (!task.success)
      throw new InputError(`TaskFleet task ${JSON.stringify(props.task)}: ${task.error.issues[0]?.message}`);
    const [first] = props.variants;
    if (first === undefined) throw new InputError('TaskFleet needs at least one variant deployment');
    const unplanned = props.variants.filter((v) => v.workers.scalingPolicy !== undefined);
    if (unplanned.length > 0) {
      throw new InputError(
        `TaskFleet variants must be deployed with workerCapacity: 'planned' (their groups would fight the plan): ${unplanned.map((v) => v.modelName).join(', ')}`,
      );
    }
    if (!(Number.isInteger(props.maxWorkers) && props.maxWorkers >= 1 && props.maxWorkers <= 1000)) {
      throw new InputError(
        `TaskFleet maxWorkers must be a whole number from 1 to 1000, got ${props.maxWorkers}`,
      );
    }

    this.controller = new HandlerFunction(this, 'Controller', {
      entry: props.functionEntry ?? join(REPOSITORY_ROOT, 'functions', 'fleet-controller.ts'),
      description: `Apparate fleet controller (${props.task}): forecasts, plans and sizes each variant's workers every minute`,
      timeout: Duration.seconds(50),
      memorySize: 512,
    });
    const fn = this.controller;
    fn.addEnvironment(ENV.task, props.task);
    fn.addEnvironment(ENV.maxWorkers, String(props.maxWorkers));
    const plans = first.stores.tables.configs;
    this.plansTable = plans;
    plans.grantReadWriteData(fn.role);
    fn.addEnvironment(ENV.configsTable, plans.tableName);
    const variants: Record<string, { group: string; exitLogsTable: string }> = {};
    const groupArns: string[] = [];
    for (const variant of props.variants) {
      variant.stores.tables.exitLogs.grantReadData(fn.role);
      const group = variant.workers.autoScalingGroup;
      variants[variant.modelName] = {
        group: group.autoScalingGroupName,
        exitLogsTable: variant.stores.tables.exitLogs.tableName,
      };
      groupArns.push(autoScalingGroupArn(group.autoScalingGroupName));
      acknowledgeGroupArn(fn.role, group);
    }
    fn.addEnvironment(ENV.fleetVariants, Stack.of(this).toJsonString(variants));
    fn.role.addToPolicy(
      new iam.PolicyStatement({ actions: ['autoscaling:SetDesiredCapacity'], resources: groupArns }),
    );

    this.schedule = new events.Rule(this, 'Schedule', {
      description: `Runs the Apparate fleet controller for task ${props.task} every minute`,
      schedule: events.Schedule.rate(Duration.minutes(1)),
      targets: [
        new targets.LambdaFunction(fn.function, { retryAttempts: 0, maxEventAge: Duration.minutes(1) }),
      ],
    });
  }
}
