/**
 * A whole task on AWS, as `cdk deploy -c task=digits` builds it: one deployment per variant
 * (`ApparateServing` with `workerCapacity: 'planned'`, all in one shared VPC), the task's fleet
 * controller (`TaskFleet`), which plans and sizes each variant's worker group, and the task's API
 * (`TaskApi`), which dispatches requests naming the task by the published plan.
 */
import { join } from 'node:path';
import { Construct } from 'constructs';
import { InputError } from '../core/errors';
import { ApparateServing, servingVpc, type ApparateServingProps } from './apparate-serving';
import { TaskApi, type TaskApiProps } from './task-api';
import { TaskFleet } from './task-fleet';

/** The most workers one variant's group may have (`ApparateServing`'s `maxWorkers` range). */
const MAX_GROUP_WORKERS = 20;

/** What every variant's deployment shares; each prop as in `ApparateServingProps`. */
type SharedVariantProps = Pick<
  ApparateServingProps,
  | 'accuracyConstraint'
  | 'rampBudget'
  | 'instanceType'
  | 'controllerPeriod'
  | 'defaultDeadlineMs'
  | 'apiAuth'
  | 'throttlingRateLimit'
  | 'throttlingBurstLimit'
  | 'alarmEmail'
  | 'retainData'
  | 'workerSourceDir'
>;

export interface TaskServingProps extends SharedVariantProps {
  /** The task's name (`digits`, `spam`); its fleet profiles must be bundled with the controller. */
  readonly task: string;
  /** The variants' model names, each deployed as its own `ApparateServing`. */
  readonly variants: readonly string[];
  /**
   * The fleet's worker budget over all variants, 1 to 20; also each variant's group maximum, since
   * the plan may put the whole budget on one variant.
   * @default 4
   */
  readonly maxWorkers?: number;
  /**
   * A folder holding one bundle folder per variant (`<bundlesDir>/<variant>/manifest.json`), each
   * uploaded to its variant's bucket at deploy time.
   * @default none: upload each bundle yourself
   */
  readonly bundlesDir?: string;
  /** Entry files of the Lambda handlers. Only tests need this, to bundle small stand-ins. */
  readonly functionEntries?: {
    readonly ingest?: string;
    readonly result?: string;
    readonly controller?: string;
    readonly fleetController?: string;
  };
}

export class TaskServing extends Construct {
  readonly variants: readonly ApparateServing[];
  readonly fleet: TaskFleet;
  readonly api: TaskApi;

  constructor(scope: Construct, id: string, props: TaskServingProps) {
    super(scope, id);
    const { task, variants, bundlesDir, functionEntries, maxWorkers: budget, ...shared } = props;
    const maxWorkers = budget ?? 4;
    if (!(Number.isInteger(maxWorkers) && maxWorkers >= 1 && maxWorkers <= MAX_GROUP_WORKERS)) {
      throw new InputError(
        `TaskServing maxWorkers must be an integer from 1 to ${MAX_GROUP_WORKERS} (the budget, and each variant group's maximum), got ${maxWorkers}`,
      );
    }
    if (variants.length === 0) throw new InputError(`TaskServing task ${task} needs at least one variant`);
    const vpc = servingVpc(this);
    const entries = {
      ...(functionEntries?.ingest === undefined ? {} : { ingest: functionEntries.ingest }),
      ...(functionEntries?.result === undefined ? {} : { result: functionEntries.result }),
      ...(functionEntries?.controller === undefined ? {} : { controller: functionEntries.controller }),
    };
    this.variants = variants.map(
      (modelName) =>
        new ApparateServing(this, `Variant-${modelName}`, {
          ...shared,
          modelName,
          vpc,
          // The fleet controller sets each group's desired count; a variant the plan leaves out has none.
          minWorkers: 0,
          maxWorkers,
          workerCapacity: 'planned',
          functionEntries: entries,
          ...(bundlesDir === undefined ? {} : { bundlePath: join(bundlesDir, modelName) }),
        }),
    );
    this.fleet = new TaskFleet(this, 'Fleet', {
      task,
      variants: this.variants,
      maxWorkers,
      ...(functionEntries?.fleetController === undefined
        ? {}
        : { functionEntry: functionEntries.fleetController }),
    });
    const api: TaskApiProps = {
      task,
      variants: this.variants,
      plansTable: this.fleet.plansTable,
      ...pick(shared, ['apiAuth', 'throttlingRateLimit', 'throttlingBurstLimit', 'defaultDeadlineMs']),
      functionEntries: {
        ...(functionEntries?.ingest === undefined ? {} : { ingest: functionEntries.ingest }),
        ...(functionEntries?.result === undefined ? {} : { result: functionEntries.result }),
      },
    };
    this.api = new TaskApi(this, 'Api', api);
  }
}

/** The keys of `from` among `keys` whose values are set. */
function pick<T extends object, K extends keyof T>(from: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const picked: Partial<Pick<T, K>> = {};
  for (const key of keys) if (from[key] !== undefined) picked[key] = from[key];
  return picked;
}
