/**
 * The app's knobs on the command line: `cdk deploy -c model=mnist-resnet -c bundlePath=...`.
 * CDK hands context values over as strings, so numbers are converted here and every value then goes
 * through the construct's own validation, which names the prop and the allowed range.
 */
import { Duration, type App } from 'aws-cdk-lib';
import { InputError } from '../core/errors';
import type { ApparateServingProps } from './serving-props';

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

/** Reads the stack name and the construct's props from the app's context. */
export function settingsFromContext(app: App): AppSettings {
  const context = (key: string): unknown => app.node.tryGetContext(key);
  const modelName = textFrom('model', context('model') ?? DEFAULT_APP_MODEL);
  const props: Record<string, unknown> = { modelName };
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
  const stackName = textFrom('stackName', context('stackName') ?? `Apparate-${modelName}`);
  return { stackName, props: props as unknown as ApparateServingProps };
}
