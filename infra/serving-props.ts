/**
 * The `ApparateServing` construct's props, their defaults and their checks. Every prop is checked
 * in the constructor, before a single resource exists, so a bad value fails `cdk synth` with a
 * message that shows the value and what is allowed rather than a CloudFormation rollback later.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Duration, Token } from 'aws-cdk-lib';
import type { IVpc } from 'aws-cdk-lib/aws-ec2';
import { InputError } from '../core/errors';
import { ACCURACY_CONSTRAINT, inLimit, limitRange, RAMP_BUDGET } from '../core/control/limits';

/** How API clients authenticate: SigV4-signed calls (IAM) or an API key with a usage plan. */
export type ApiAuth = 'iam' | 'apiKey';

/** The deployable Lambda handlers, by role. */
export type FunctionRole = 'ingest' | 'result' | 'controller';

export interface ApparateServingProps {
  /**
   * The one model this deployment serves, spelled as the bundle's manifest names it (`model.name`):
   * workers report metrics and read configs under that name. It names the bundle's folder in the bucket
   * (`bundles/<modelName>/`), the `Model` dimension of every worker metric and the API path
   * `/v1/models/<modelName>/infer`. Lower-case letters, digits and `-`, starting with a letter or
   * digit, at most 64 characters. Required.
   */
  readonly modelName: string;
  /**
   * A local bundle directory (written by `apparate prepare`) that the deployment uploads to
   * `bundles/<modelName>/` in the bundle bucket, replacing what is there. Its manifest's model name
   * must equal `modelName`.
   * @default none: the operator uploads the bundle with `aws s3 sync` before workers can start
   */
  readonly bundlePath?: string;
  /**
   * Minimum agreement of released answers with the full model over the window, in (0.5, 1]. The
   * controller tunes thresholds to it and the agreement alarm fires below it.
   * @default 0.99
   */
  readonly accuracyConstraint?: number;
  /**
   * Latency the active ramps may add to an input that exits nowhere, as a share of the plain
   * model's latency, in (0, 0.5].
   * @default 0.02
   */
  readonly rampBudget?: number;
  /**
   * EC2 instance type of the GPU workers. Must be an NVIDIA GPU family that the x86-64 deep-learning
   * AMI and onnxruntime-node's CUDA 12 binaries support (see `GPU_INSTANCE_FAMILIES`).
   * @default 'g5.xlarge' (one NVIDIA A10G, 24 GiB)
   */
  readonly instanceType?: string;
  /**
   * Fewest GPU workers, 0 to 20. With 0 the fleet scales to zero when the queue is empty (the first
   * request then waits for an instance to boot, several minutes) and the heartbeat alarm is not
   * created, since no worker is then the expected state.
   * @default 1
   */
  readonly minWorkers?: number;
  /**
   * Most GPU workers, 1 to 20 and at least `minWorkers`. This caps the fleet's cost.
   * @default 4
   */
  readonly maxWorkers?: number;
  /**
   * How often the controller retunes thresholds and ramps: whole minutes from 1 to 60.
   * @default Duration.minutes(1)
   */
  readonly controllerPeriod?: Duration;
  /**
   * Visible messages per in-service worker that the scaling policy aims at, 1 to 100000. Lower
   * scales out sooner (shorter queue waits, more cost).
   * @default 200
   */
  readonly backlogPerInstance?: number;
  /**
   * `backlog`: the worker group scales itself on queue backlog (`backlogPerInstance`). `planned`:
   * the deployment is one variant of a task whose `TaskFleet` controller sets the group's desired
   * capacity from the fleet plan, so the group has no scaling policy of its own.
   * @default 'backlog'
   */
  readonly workerCapacity?: 'backlog' | 'planned';
  /**
   * Deadline given to a request that names none, in ms, 1 to 29000 (API Gateway's REST
   * integration timeout is 29 s, so a synchronous request cannot wait longer).
   * @default 5000
   */
  readonly defaultDeadlineMs?: number;
  /**
   * How API clients authenticate. `'apiKey'` creates an API key and a usage plan (clients send
   * `x-api-key`); `'iam'` requires SigV4-signed requests from principals allowed `execute-api:Invoke`.
   * @default 'apiKey'
   */
  readonly apiAuth?: ApiAuth;
  /**
   * Steady-state requests per second the API accepts before answering 429, 1 to 10000.
   * @default 100
   */
  readonly throttlingRateLimit?: number;
  /**
   * Requests the API accepts in a burst above the steady rate, 1 to 5000.
   * @default 200
   */
  readonly throttlingBurstLimit?: number;
  /**
   * Age of the oldest queued request at which the backlog alarm fires, 10 seconds to 1 hour.
   * @default Duration.minutes(1)
   */
  readonly maxMessageAge?: Duration;
  /**
   * The VPC for the GPU workers; they go into its private subnets with egress.
   * @default a new VPC over 2 availability zones with one NAT gateway and flow logs
   */
  readonly vpc?: IVpc;
  /**
   * An email address subscribed to the alarm topic (the subscription must be confirmed).
   * @default none: subscribe to the topic yourself
   */
  readonly alarmEmail?: string;
  /**
   * Keep the tables and buckets when the stack is deleted, so that a teardown never loses results,
   * exit logs, configs or bundles by accident.
   * @default true
   */
  readonly retainData?: boolean;
  /**
   * Entry files of the Lambda handlers. Only tests need this, to bundle small stand-ins.
   * @default the handlers in `functions/` (`ingest.ts`, `result.ts`, `controller.ts`)
   */
  readonly functionEntries?: Partial<Record<FunctionRole, string>>;
  /**
   * The directory whose `package.json`, lock file and sources the workers install. Only tests need
   * this.
   * @default the repository root
   */
  readonly workerSourceDir?: string;
}

/**
 * NVIDIA GPU families (x86-64) the worker can run on with CUDA 12. Graviton (`g5g`) and AMD
 * (`g4ad`) families are absent: the deep-learning AMI and onnxruntime-node's CUDA build exclude them.
 */
export const GPU_INSTANCE_FAMILIES = [
  'g4dn',
  'g5',
  'g6',
  'g6e',
  'gr6',
  'p3',
  'p3dn',
  'p4d',
  'p4de',
  'p5',
  'p5e',
  'p5en',
] as const;

/** The props with every default filled in, as the construct uses them. */
export interface ResolvedServingProps {
  readonly modelName: string;
  readonly bundlePath: string | undefined;
  readonly accuracyConstraint: number;
  readonly rampBudget: number;
  readonly instanceType: string;
  readonly minWorkers: number;
  readonly maxWorkers: number;
  readonly controllerPeriod: Duration;
  readonly backlogPerInstance: number;
  readonly workerCapacity: 'backlog' | 'planned';
  readonly defaultDeadlineMs: number;
  readonly apiAuth: ApiAuth;
  readonly throttlingRateLimit: number;
  readonly throttlingBurstLimit: number;
  readonly maxMessageAge: Duration;
  readonly vpc: IVpc | undefined;
  readonly alarmEmail: string | undefined;
  readonly retainData: boolean;
  readonly functionEntries: Partial<Record<FunctionRole, string>>;
  readonly workerSourceDir: string | undefined;
}

const MODEL_NAME = /^[a-z0-9][a-z0-9-]*$/;
const MAX_MODEL_NAME_LENGTH = 64;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const MAX_WORKERS = 20;

/** Throws the one error shape every check uses; `shown` replaces the JSON of the value where that reads better. */
function fail(
  prop: string,
  allowed: string,
  value: unknown,
  shown?: string,
  owner = 'ApparateServing',
): never {
  shown ??= value instanceof Duration ? value.toHumanString() : JSON.stringify(value);
  throw new InputError(`${owner}: ${prop} must be ${allowed}, got ${shown}`);
}

/** The model name a bundle's manifest declares (`model.name`), or undefined when it has none. */
function bundleModelName(manifestFile: string): string | undefined {
  try {
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as { model?: { name?: unknown } };
    return typeof manifest.model?.name === 'string' ? manifest.model.name : undefined;
  } catch {
    return undefined;
  }
}

/** A concrete number; tokens are refused because every range here must be checked at synth. */
function isNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && !Token.isUnresolved(value);
}

/**
 * A whole number in [min, max], or the fallback; anything else stops synthesis naming the
 * construct (`owner`) and the prop. Shared by every construct that takes numeric props.
 */
export function integerIn(
  prop: string,
  value: number | undefined,
  fallback: number,
  min: number,
  max: number,
  owner = 'ApparateServing',
): number {
  const chosen = value ?? fallback;
  if (!isNumber(chosen) || !Number.isInteger(chosen) || chosen < min || chosen > max) {
    fail(prop, `an integer from ${min} to ${max}`, chosen, undefined, owner);
  }
  return chosen;
}

function durationIn(
  prop: string,
  value: Duration | undefined,
  fallback: Duration,
  minS: number,
  maxS: number,
) {
  const chosen = value ?? fallback;
  const seconds = chosen.toSeconds({ integral: false });
  if (Token.isUnresolved(seconds) || seconds < minS || seconds > maxS) {
    fail(
      prop,
      `from ${Duration.seconds(minS).toHumanString()} to ${Duration.seconds(maxS).toHumanString()}`,
      chosen,
    );
  }
  return chosen;
}

/**
 * Fills in the defaults and refuses every value the deployment could not honour. Throws
 * `InputError` naming the prop, the allowed range and the value given.
 */
export function resolveServingProps(props: ApparateServingProps): ResolvedServingProps {
  const { modelName } = props;
  if (
    typeof modelName !== 'string' ||
    Token.isUnresolved(modelName) ||
    !MODEL_NAME.test(modelName) ||
    modelName.length > MAX_MODEL_NAME_LENGTH
  ) {
    fail(
      'modelName',
      `1 to ${MAX_MODEL_NAME_LENGTH} lower-case letters, digits or '-', starting with a letter or digit (${MODEL_NAME.source})`,
      modelName,
    );
  }

  const accuracyConstraint = props.accuracyConstraint ?? ACCURACY_CONSTRAINT.default;
  if (!inLimit(ACCURACY_CONSTRAINT, accuracyConstraint)) {
    fail('accuracyConstraint', `a number in ${limitRange(ACCURACY_CONSTRAINT)}`, accuracyConstraint);
  }
  const rampBudget = props.rampBudget ?? RAMP_BUDGET.default;
  if (!inLimit(RAMP_BUDGET, rampBudget)) {
    fail('rampBudget', `a number in ${limitRange(RAMP_BUDGET)}`, rampBudget);
  }

  const instanceType = props.instanceType ?? 'g5.xlarge';
  const family =
    typeof instanceType === 'string' ? /^([a-z0-9]+)\.[a-z0-9-]+$/.exec(instanceType)?.[1] : undefined;
  if (family === undefined || !(GPU_INSTANCE_FAMILIES as readonly string[]).includes(family)) {
    fail(
      'instanceType',
      `an NVIDIA GPU instance type of family ${GPU_INSTANCE_FAMILIES.join(', ')}`,
      instanceType,
    );
  }

  const minWorkers = integerIn('minWorkers', props.minWorkers, 1, 0, MAX_WORKERS);
  const maxWorkers = integerIn('maxWorkers', props.maxWorkers, 4, 1, MAX_WORKERS);
  if (maxWorkers < minWorkers) {
    fail('maxWorkers', `at least minWorkers (${minWorkers})`, maxWorkers);
  }

  const controllerPeriod = durationIn(
    'controllerPeriod',
    props.controllerPeriod,
    Duration.minutes(1),
    60,
    3600,
  );
  if (controllerPeriod.toSeconds({ integral: false }) % 60 !== 0) {
    fail(
      'controllerPeriod',
      'a whole number of minutes (EventBridge rates are in whole minutes)',
      controllerPeriod,
    );
  }

  const backlogPerInstance = integerIn('backlogPerInstance', props.backlogPerInstance, 200, 1, 100_000);
  const defaultDeadlineMs = integerIn('defaultDeadlineMs', props.defaultDeadlineMs, 5000, 1, 29_000);

  const apiAuth = props.apiAuth ?? 'apiKey';
  if (apiAuth !== 'iam' && apiAuth !== 'apiKey') fail('apiAuth', "'iam' or 'apiKey'", apiAuth);
  const throttlingRateLimit = integerIn('throttlingRateLimit', props.throttlingRateLimit, 100, 1, 10_000);
  const throttlingBurstLimit = integerIn('throttlingBurstLimit', props.throttlingBurstLimit, 200, 1, 5000);

  const maxMessageAge = durationIn('maxMessageAge', props.maxMessageAge, Duration.minutes(1), 10, 3600);

  const { alarmEmail } = props;
  if (alarmEmail !== undefined && (typeof alarmEmail !== 'string' || !EMAIL.test(alarmEmail))) {
    fail('alarmEmail', 'an email address such as ops@example.com', alarmEmail);
  }

  const { bundlePath } = props;
  if (
    bundlePath !== undefined &&
    (typeof bundlePath !== 'string' ||
      !existsSync(bundlePath) ||
      !statSync(bundlePath).isDirectory() ||
      !existsSync(join(bundlePath, 'manifest.json')))
  ) {
    fail(
      'bundlePath',
      'a bundle directory holding manifest.json (written by `apparate prepare`)',
      bundlePath,
    );
  }
  if (bundlePath !== undefined) {
    const bundleModel = bundleModelName(join(bundlePath, 'manifest.json'));
    if (bundleModel !== modelName) {
      fail(
        'bundlePath',
        `a bundle of model "${modelName}" (workers report metrics and read configs under the bundle's model name, so it must equal modelName)`,
        bundlePath,
        `a bundle of model ${JSON.stringify(bundleModel ?? null)} at ${bundlePath}`,
      );
    }
  }

  return {
    modelName,
    bundlePath,
    accuracyConstraint,
    rampBudget,
    instanceType,
    minWorkers,
    maxWorkers,
    controllerPeriod,
    backlogPerInstance,
    workerCapacity: props.workerCapacity ?? 'backlog',
    defaultDeadlineMs,
    apiAuth,
    throttlingRateLimit,
    throttlingBurstLimit,
    maxMessageAge,
    vpc: props.vpc,
    alarmEmail,
    retainData: props.retainData ?? true,
    functionEntries: props.functionEntries ?? {},
    workerSourceDir: props.workerSourceDir,
  };
}
