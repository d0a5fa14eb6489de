/**
 * The ingest Lambda: POST /v1/models/{model}/infer and the Open Inference Protocol's /v2 routes
 * behind API Gateway (REST API, proxy integration). `handler` is wired from the environment on the first invocation of each execution
 * environment and reused while it stays warm; `createIngestHandler` is the same code with explicit
 * dependencies, for tests and the local server. On AWS a model's deployment serves that model; a
 * task's API (`APPARATE_TASK_VARIANTS` set) serves the task and its variants (`task/task-wiring.ts`).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { documentClientFor, ResultStore } from '../adapters/dynamo';
import { SqsRequestQueue } from '../adapters/sqs';
import { ENV } from '../core/deployment/cloud-names';
import { deadlineVariable, queueVariables } from './api/environment';
import { bundleVariables, modelVariable, readEnvironment, resultsTableVariable } from './env';
import type { ApiHandler } from './api/http';
import { createIngestHandlers, type IngestHandlers } from './api/ingest-handler';
import {
  streamingIngestHandler,
  type LambdaStreamingRuntime,
  type StreamingLambdaHandler,
} from './api/lambda-stream';
import { WriteBehind } from './api/write-behind';
import { createOpenInferenceHandler } from './api/open-inference/handler';
import { s3BundleCatalog } from './catalog/bundle-catalog';
import { isTaskEnvironment, taskIngestHandlers } from './task/task-wiring';

export {
  createIngestHandler,
  createIngestHandlers,
  type IngestDependencies,
  type IngestHandlers,
} from './api/ingest-handler';
export { createOpenInferenceHandler, type OpenInferenceDependencies } from './api/open-inference/handler';

/**
 * Wires the ingest handler to SQS, DynamoDB and S3 from the environment the CDK app sets. Throws
 * InputError naming every missing variable. The SQS adapter is used directly (not through
 * `createRequestQueue`) so the bundle carries no Redis client.
 */
export function ingestHandlerFromEnvironment(env: NodeJS.ProcessEnv = process.env): ApiHandler {
  return ingestHandlersFromEnvironment(env).handler;
}

/** Both ingest handlers (whole JSON and streamed), wired from the environment; see above. */
export function ingestHandlersFromEnvironment(
  env: NodeJS.ProcessEnv = process.env,
  writeBehind?: WriteBehind,
): IngestHandlers {
  if (isTaskEnvironment(env))
    return taskIngestHandlers(env, writeBehind === undefined ? {} : { writeBehind });
  const config = readEnvironment(
    'ingest',
    { ...modelVariable, ...bundleVariables, ...resultsTableVariable, ...queueVariables, ...deadlineVariable },
    env,
  );
  const model = config[ENV.model];
  const queue = new SqsRequestQueue({
    queueUrl: config[ENV.queueUrl],
    deadLetterQueueUrl: config[ENV.deadLetterQueueUrl],
  });
  const defaultDeadlineMs = config[ENV.defaultDeadlineMs];
  const catalog = s3BundleCatalog({
    client: new S3Client({}),
    bucket: config[ENV.bundleBucket],
    prefix: config[ENV.bundlePrefix],
    models: [model],
  });
  const v1 = createIngestHandlers({
    ...(writeBehind === undefined ? {} : { writeBehind }),
    catalog,
    queueFor: (name) => (name === model ? queue : undefined),
    results: new ResultStore({
      client: documentClientFor(new DynamoDBClient({})),
      tableName: config[ENV.resultsTable],
    }),
    ...(defaultDeadlineMs === undefined ? {} : { defaultDeadlineMs }),
  });
  // The Open Inference Protocol routes reach this function too: they queue through the same ingest.
  const v2 = createOpenInferenceHandler({ ingest: v1.handler, catalog });
  return { ...v1, handler: (event) => (event.resource.startsWith('/v2/') ? v2(event) : v1.handler(event)) };
}

let wired: IngestHandlers | undefined;
let writes: WriteBehind | undefined;

/** The streaming runtime's API: a global of the Node.js Lambda runtime, absent elsewhere. */
const lambdaRuntime = (
  globalThis as {
    awslambda?: Partial<LambdaStreamingRuntime> & {
      streamifyResponse?: (handler: StreamingLambdaHandler) => unknown;
    };
  }
).awslambda;

const streamingEntry = (runtime: LambdaStreamingRuntime): StreamingLambdaHandler =>
  streamingIngestHandler(
    runtime,
    () => {
      writes ??= new WriteBehind({
        onFailure: (what, error, fields) =>
          process.stderr.write(
            `${JSON.stringify({ level: 'error', message: what, ...fields, error: String(error) })}\n`,
          ),
      });
      wired ??= ingestHandlersFromEnvironment(process.env, writes);
      return wired;
    },
    () => writes?.drain() ?? Promise.resolve(),
  );

/**
 * The Lambda entry point: a response-streaming handler (API Gateway invokes it with
 * `responseTransferMode: STREAM`), so a client asking for `text/event-stream` gets the early
 * answer before the final one; every other request gets the whole JSON response as before.
 */
export const handler: unknown =
  typeof lambdaRuntime?.streamifyResponse === 'function' && lambdaRuntime.HttpResponseStream !== undefined
    ? lambdaRuntime.streamifyResponse(
        streamingEntry({ HttpResponseStream: lambdaRuntime.HttpResponseStream }),
      )
    : undefined;
