/**
 * The result Lambda: GET /v1/requests/{id}, GET /v1/models, GET /v1/models/{model}/config and
 * GET /openapi.json behind API Gateway (REST API, proxy integration). `handler` is wired from the
 * environment on the first invocation of each execution environment; `createResultHandler` is the
 * same code with explicit dependencies, for tests and the local server.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { ConfigStore, documentClientFor, ResultStore } from '../adapters/dynamo';
import { ENV } from '../core/deployment/cloud-names';
import {
  bundleVariables,
  configsTableVariable,
  modelVariable,
  readEnvironment,
  resultsTableVariable,
} from './env';
import type { ApiHandler } from './api/http';
import { createResultHandler } from './api/result-handler';
import { s3BundleCatalog } from './catalog/bundle-catalog';
import { isTaskEnvironment, taskResultHandler } from './task/task-wiring';

export { createResultHandler, type ResultDependencies } from './api/result-handler';

/**
 * Wires the result handler to DynamoDB and S3 from the environment (a model's deployment, or a
 * task's API); throws InputError naming every missing variable.
 */
export function resultHandlerFromEnvironment(env: NodeJS.ProcessEnv = process.env): ApiHandler {
  // A task's API reads the results, configs and bundles of every variant of the task.
  if (isTaskEnvironment(env)) return taskResultHandler(env);
  const config = readEnvironment(
    'result',
    { ...modelVariable, ...bundleVariables, ...resultsTableVariable, ...configsTableVariable },
    env,
  );
  const doc = documentClientFor(new DynamoDBClient({}));
  return createResultHandler({
    catalog: s3BundleCatalog({
      client: new S3Client({}),
      bucket: config[ENV.bundleBucket],
      prefix: config[ENV.bundlePrefix],
      models: [config[ENV.model]],
    }),
    results: new ResultStore({ client: doc, tableName: config[ENV.resultsTable] }),
    configs: new ConfigStore({ client: doc, tableName: config[ENV.configsTable] }),
  });
}

let wired: ApiHandler | undefined;

/** The Lambda entry point. */
export const handler: ApiHandler = (event) => {
  wired ??= resultHandlerFromEnvironment();
  return wired(event);
};
