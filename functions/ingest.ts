/**
 * The ingest Lambda: POST /v1/models/{model}/infer behind API Gateway (REST API, proxy
 * integration). `handler` is wired from the environment on the first invocation of each execution
 * environment and reused while it stays warm; `createIngestHandler` is the same code with explicit
 * dependencies, for tests and the local server. On AWS one deployment serves one model.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { documentClientFor } from '../adapters/dynamo/dynamo-client';
import { ResultStore } from '../adapters/dynamo/result-store';
import { SqsRequestQueue } from '../adapters/queue/sqs-queue';
import { ENV } from '../core/deployment/cloud-names';
import {
  bundleVariables,
  deadlineVariable,
  modelVariable,
  queueVariables,
  readEnvironment,
  resultsTableVariable,
} from './api/environment';
import type { ApiHandler } from './api/http';
import { createIngestHandler } from './api/ingest-handler';
import { s3BundleCatalog } from './catalog/bundle-catalog';

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
  const config = readEnvironment(
    { ...modelVariable, ...bundleVariables, ...resultsTableVariable, ...queueVariables, ...deadlineVariable },
    env,
  );
  const model = config[ENV.model];
  const queue = new SqsRequestQueue({
    queueUrl: config[ENV.queueUrl],
    deadLetterQueueUrl: config[ENV.deadLetterQueueUrl],
  });
  const defaultDeadlineMs = config[ENV.defaultDeadlineMs];
  return createIngestHandler({
    catalog: s3BundleCatalog({
      client: new S3Client({}),
      bucket: config[ENV.bundleBucket],
      prefix: config[ENV.bundlePrefix],
      models: [model],
    }),
    queueFor: (name) => (name === model ? queue : undefined),
    results: new ResultStore({
      client: documentClientFor(new DynamoDBClient({})),
      tableName: config[ENV.resultsTable],
    }),
    ...(defaultDeadlineMs === undefined ? {} : { defaultDeadlineMs }),
  });
}

let wired: ApiHandler | undefined;

/** The Lambda entry point. */
export const handler: ApiHandler = (event) => {
  wired ??= ingestHandlerFromEnvironment();
  return wired(event);
};
