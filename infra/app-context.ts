/**
 * The app's knobs on the command line: `cdk deploy -c model=mnist-resnet -c bundlePath=...`.
 * CDK hands context values over as strings, so numbers are converted here and every value then goes
 * through the construct's own validation, which names the prop and the allowed range.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Duration, type App } from 'aws-cdk-lib';
import { InputError } from '../core/errors';
import { FLEET_PROFILES_DIR } from '../core/fleet/profiles-location';
import { TASK_DATASETS } from '../core/fleet/tasks';
import { parseTaskProfiles } from '../core/fleet/variant-profile';
import type { ApparateServingProps } from './serving-props';
import type { TaskServingProps } from './task-serving';

/** The model deployed when no `-c model=...` is given: the image fixture from `zoo/`. */
export const DEFAULT_APP_MODEL = 'mnist-resnet';

export interface AppSettings {
  readonly stackName: string;
  readonly props: ApparateServingProps;
}

const NUMBER_KEYS = [
  'accuracyConstraint',
  'rampBudget',
  'minWorkers',
  'maxWorkers',
  'backlogPerInstance',
  'defaultDeadlineMs',
  'throttlingRateLimit',
  'throttlingBurstLimit',
] as const;
const STRING_KEYS = ['bundlePath', 'instanceType', 'apiAuth', 'alarmEmail'] as const;

function numberFrom(key: string, value: unknown): number {
  const parsed = typeof value === 'number' ? value : Number(value);
  if (typeof value === 'boolean' || value === '' || !Number.isFinite(parsed)) {
    throw new InputError(`context ${key} must be a number, got ${JSON.stringify(value)}`);
  }
  return parsed;
}

function textFrom(key: string, value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new InputError(`context ${key} must be a string, got ${JSON.stringify(value)}`);
}

/** The props every deployment reads from context the same way, model or task. */
function sharedProps(app: App): Record<string, unknown> {
  const context = (key: string): unknown => app.node.tryGetContext(key);
  const props: Record<string, unknown> = {};
  for (const key of NUMBER_KEYS) {
    const value = context(key);
    if (value !== undefined) props[key] = numberFrom(key, value);
  }
  for (const key of STRING_KEYS) {
    const value = context(key);
    if (value !== undefined) props[key] = textFrom(key, value);
  }
  const retainData = context('retainData');
  if (retainData !== undefined) props['retainData'] = retainData === true || retainData === 'true';
  const periodMinutes = context('controllerPeriodMinutes');
  if (periodMinutes !== undefined) {
    props['controllerPeriod'] = Duration.minutes(numberFrom('controllerPeriodMinutes', periodMinutes));
  }
  return props;
}

/** Reads the stack name and the construct's props from the app's context. */
export function settingsFromContext(app: App): AppSettings {
  const context = (key: string): unknown => app.node.tryGetContext(key);
  const modelName = textFrom('model', context('model') ?? DEFAULT_APP_MODEL);
  const props: Record<string, unknown> = { modelName, ...sharedProps(app) };
  const stackName = textFrom('stackName', context('stackName') ?? `Apparate-${modelName}`);
  return { stackName, props: props as unknown as ApparateServingProps };
}

export interface TaskAppSettings {
  readonly stackName: string;
  readonly props: TaskServingProps;
}

/**
 * With `-c task=<task>`, the stack name and props of the whole task (`TaskServing`); undefined
 * without it, when the app deploys one model. The variants are `-c variants=a,b,c`, by default the
 * ones in the task's committed fleet profiles (the only ones its fleet controller can plan);
 * `-c bundlesDir=<dir>` uploads `<dir>/<variant>/` to each; `maxWorkers` is the fleet's budget.
 */
export function taskSettingsFromContext(app: App): TaskAppSettings | undefined {
  const context = (key: string): unknown => app.node.tryGetContext(key);
  const given = context('task');
  if (given === undefined) return undefined;
  const task = textFrom('task', given);
  if (context('model') !== undefined) {
    throw new InputError('context task and model exclude each other: a task deploys all its variants');
  }
  const listed = context('variants');
  const variants =
    listed === undefined
      ? profiledVariants(task)
      : textFrom('variants', listed)
          .split(',')
          .map((v) => v.trim())
          .filter((v) => v !== '');
  const { bundlePath, minWorkers, backlogPerInstance, ...shared } = sharedProps(app);
  for (const [key, value] of Object.entries({ bundlePath, minWorkers, backlogPerInstance })) {
    if (value !== undefined) {
      throw new InputError(
        `context ${key} does not apply to a task (use bundlesDir; the fleet plan sets each variant's workers)`,
      );
    }
  }
  const bundlesDir = context('bundlesDir');
  const props = {
    ...shared,
    task,
    variants,
    ...(bundlesDir === undefined ? {} : { bundlesDir: textFrom('bundlesDir', bundlesDir) }),
  };
  const stackName = textFrom('stackName', context('stackName') ?? `Apparate-task-${task}`);
  return { stackName, props: props as unknown as TaskServingProps };
}

/** The variants in the task's committed fleet profiles (`zoo/profiles/<data set>.json`). */
function profiledVariants(task: string): string[] {
  const dataset = TASK_DATASETS[task];
  if (dataset === undefined) {
    throw new InputError(
      `context task must be one of ${Object.keys(TASK_DATASETS).join(', ')}, got ${JSON.stringify(task)}`,
    );
  }
  const file = join(FLEET_PROFILES_DIR, `${dataset}.json`);
  const profiles = parseTaskProfiles(JSON.parse(readFileSync(file, 'utf8')));
  return profiles.variants.map((v) => v.name);
}
