/**
 * The deployed API of a task (`TaskApi` in infra/): one ingest and one result function in front of
 * every variant's deployment. A request naming the task goes to a variant by the weights of the
 * task's newest published plan (`PlanRouting` over the plan store), is queued on that variant's SQS
 * queue and accepted into its results table, and its answer names the variant; a request naming a
 * variant goes to that variant. Everything is read from the environment the CDK app sets; the
 * clients may be given, so tests can wire the same code to stubs and dynalite.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { ConfigStore, documentClientFor, PlanStore, ResultStore } from '../../adapters/dynamo';
import { SqsRequestQueue } from '../../adapters/sqs';
import { jsonLinesLogger } from '../../core/util/json-lines-logger';
import { ENV } from '../../core/deployment/cloud-names';
import {
  parseTaskVariants,
  type TaskVariantResources,
  type TaskVariantsResources,
} from '../../core/deployment/task-variants';
import { deadlineVariable } from '../api/environment';
import { bundleVariables, readEnvironment, requiredText, tableNameVariable } from '../env';
import type { ApiHandler } from '../api/http';
import { createIngestHandlers, type IngestHandlers } from '../api/ingest-handler';
import { createOpenInferenceHandler } from '../api/open-inference/handler';
import { PlanRouting } from '../api/plan-routing';
import { createResultHandler } from '../api/result-handler';
import type { WriteBehind } from '../api/write-behind';
import { s3BundleCatalog, type BundleCatalog } from '../catalog/bundle-catalog';
import { variantCatalog, variantConfigs, variantResults } from './variant-stores';

/** The SDK clients the task's functions use; each defaults to one configured from the environment. */
export interface TaskClients {
  readonly sqs?: SQSClient;
  readonly dynamo?: DynamoDBClient;
  readonly s3?: S3Client;
}

export interface TaskEnvironment {
  readonly task: string;
  readonly variants: TaskVariantsResources;
  readonly bundlePrefix: string;
  readonly defaultDeadlineMs: number | undefined;
}

/** Whether the environment describes a task's API rather than one model's. */
export function isTaskEnvironment(env: NodeJS.ProcessEnv): boolean {
  return env[ENV.taskVariants] !== undefined;
}

/**
 * Reads a task API's environment; throws InputError naming the function (`fn`) and every missing
 * or invalid variable.
 */
export function readTaskEnvironment(env: NodeJS.ProcessEnv, fn: string): TaskEnvironment {
  const config = readEnvironment(
    fn,
    {
      [ENV.task]: requiredText('the name of the task this API serves'),
      [ENV.taskVariants]: requiredText("a JSON object of the task's variants and their resources"),
      [ENV.bundlePrefix]: bundleVariables[ENV.bundlePrefix],
      ...deadlineVariable,
    },
    env,
  );
  const task = config[ENV.task];
  return {
    task,
    variants: parseTaskVariants(task, config[ENV.taskVariants]),
    bundlePrefix: config[ENV.bundlePrefix],
    defaultDeadlineMs: config[ENV.defaultDeadlineMs],
  };
}

/** A store per variant, built once per cold start from the variant's resources. */
function perVariant<T>(
  config: TaskEnvironment,
  make: (variant: string, resources: TaskVariantResources) => T,
): Map<string, T> {
  return new Map(
    Object.entries(config.variants).map(([variant, resources]) => [variant, make(variant, resources)]),
  );
}

function catalogOf(config: TaskEnvironment, s3: S3Client): BundleCatalog {
  return variantCatalog(
    perVariant(config, (variant, { bundleBucket }) =>
      s3BundleCatalog({
        client: s3,
        bucket: bundleBucket,
        prefix: config.bundlePrefix,
        models: [variant],
      }),
    ),
  );
}

export interface TaskIngest extends IngestHandlers {
  /** The task routing the handlers follow, so a caller (a test) can see the plan it follows. */
  readonly routing: PlanRouting;
}

/** Both ingest handlers of a task's API (whole JSON and streamed), the /v2 routes included. */
export function taskIngestHandlers(
  env: NodeJS.ProcessEnv,
  options: { readonly clients?: TaskClients; readonly writeBehind?: WriteBehind } = {},
): TaskIngest {
  const config = readTaskEnvironment(env, 'task ingest');
  // Only the ingest follows the plans: the configs table the task's fleet controller publishes in.
  const plansTable = readEnvironment(
    'task ingest',
    { [ENV.plansTable]: tableNameVariable("task's fleet plans") },
    env,
  )[ENV.plansTable];
  const sqs = options.clients?.sqs ?? new SQSClient({});
  const doc = documentClientFor(options.clients?.dynamo ?? new DynamoDBClient({}));
  const catalog = catalogOf(config, options.clients?.s3 ?? new S3Client({}));
  const queues = perVariant(
    config,
    (_, { queueUrl, deadLetterQueueUrl }) =>
      new SqsRequestQueue({ client: sqs, queueUrl, deadLetterQueueUrl }),
  );
  const logger = jsonLinesLogger(process.stderr, { function: 'task-ingest', task: config.task });
  const routing = new PlanRouting({
    tasks: new Map([[config.task, [...queues.keys()].sort()]]),
    plans: new PlanStore({ client: doc, tableName: plansTable }),
    // A failed read keeps the plan already followed; the log says why the split may be stale.
    onError: (message, fields) => logger.log('error', message, fields),
  });
  const v1 = createIngestHandlers({
    ...(options.writeBehind === undefined ? {} : { writeBehind: options.writeBehind }),
    catalog,
    routing,
    queueFor: (model) => queues.get(model),
    results: variantResults(
      perVariant(config, (_, { resultsTable }) => new ResultStore({ client: doc, tableName: resultsTable })),
    ),
    ...(config.defaultDeadlineMs === undefined ? {} : { defaultDeadlineMs: config.defaultDeadlineMs }),
  });
  const v2 = createOpenInferenceHandler({ ingest: v1.handler, catalog });
  return {
    ...v1,
    routing,
    handler: (event) => (event.resource.startsWith('/v2/') ? v2(event) : v1.handler(event)),
  };
}

/** The result handler of a task's API: requests, models and configs over every variant's stores. */
export function taskResultHandler(env: NodeJS.ProcessEnv, clients: TaskClients = {}): ApiHandler {
  const config = readTaskEnvironment(env, 'task result');
  const doc = documentClientFor(clients.dynamo ?? new DynamoDBClient({}));
  return createResultHandler({
    catalog: catalogOf(config, clients.s3 ?? new S3Client({})),
    results: variantResults(
      perVariant(config, (_, { resultsTable }) => new ResultStore({ client: doc, tableName: resultsTable })),
    ),
    configs: variantConfigs(
      perVariant(config, (_, { configsTable }) => new ConfigStore({ client: doc, tableName: configsTable })),
    ),
  });
}
