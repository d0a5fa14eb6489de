/**
 * The scheduled controller Lambda: an EventBridge rule invokes it every few minutes, and each
 * invocation runs the controller once for the deployment's model (`runController`). The handler
 * is thin: the clients, the bundle catalog and the settings are built once per cold start from
 * the environment, and each invocation only supplies the clock. Its return value is the run's
 * report (EventBridge ignores it; a test or a manual `aws lambda invoke` can read it).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import type { ScheduledEvent } from 'aws-lambda';
import { ConfigStore, documentClientFor, type DocumentSender, ExitLogReader } from '../adapters/dynamo';
import type { BundleManifest } from '../core/bundle/manifest';
import { ArtifactError } from '../core/errors';
import { s3BundleCatalog, type BundleCatalog } from './catalog/bundle-catalog';
import { readControllerEnv, type ControllerEnv } from './controller/controller-env';
import { messageOf } from '../core/errors';
import { jsonLinesLogger, type Logger } from '../core/util/json-lines-logger';
import { runController, type ControllerRunReport, type ControllerTuning } from './controller/run-controller';

/** What every invocation of one execution environment shares. */
export interface ControllerRuntime {
  readonly env: ControllerEnv;
  /** A document client over DynamoDB (or dynalite). */
  readonly dynamo: DocumentSender;
  readonly catalog: BundleCatalog;
  readonly logger: Logger;
  /** @default Date.now */
  readonly clock?: () => number;
  readonly options?: ControllerTuning;
}

/** The runtime of a deployed function: AWS clients from the Lambda's own region and role. */
export function controllerRuntimeFromEnv(
  variables: Readonly<Record<string, string | undefined>> = process.env,
): ControllerRuntime {
  const env = readControllerEnv(variables);
  return {
    env,
    dynamo: documentClientFor(new DynamoDBClient({})),
    catalog: s3BundleCatalog({
      client: new S3Client({}),
      bucket: env.bundleBucket,
      prefix: env.bundlePrefix,
      models: [env.model],
    }),
    logger: jsonLinesLogger(process.stdout, { function: 'controller', model: env.model }),
  };
}

/**
 * Builds the handler over a runtime. The stores are made here, once, so a warm invocation costs
 * only its reads and writes; the manifest is fetched on the first invocation and cached by the
 * catalog.
 */
export function createControllerHandler(
  runtime: ControllerRuntime,
): (event: ScheduledEvent) => Promise<ControllerRunReport> {
  const { env, dynamo, catalog } = runtime;
  const exitLogs = new ExitLogReader({ client: dynamo, tableName: env.exitLogsTable });
  const configs = new ConfigStore({ client: dynamo, tableName: env.configsTable });
  const clock = runtime.clock ?? Date.now;
  return async (event) => {
    const logger: Logger = {
      log: (level, message, fields = {}) =>
        runtime.logger.log(level, message, { eventId: event.id, ...fields }),
    };
    let manifest: BundleManifest | undefined;
    try {
      manifest = await catalog.manifest(env.model);
      if (manifest === undefined)
        throw new ArtifactError(`no bundle manifest is found for model ${env.model}`);
    } catch (error) {
      // runController logs its own failures; this is the one line of a run that never started.
      logger.log('error', 'controller run failed', { model: env.model, error: messageOf(error) });
      throw error;
    }
    return runController({
      model: env.model,
      manifest,
      exitLogs,
      configs,
      nowMs: clock(),
      ...(env.accuracyConstraint === undefined ? {} : { constraint: env.accuracyConstraint }),
      ...(env.rampBudget === undefined ? {} : { rampBudget: env.rampBudget }),
      logger,
      ...(runtime.options === undefined ? {} : { options: runtime.options }),
    });
  };
}

let coldStart: ((event: ScheduledEvent) => Promise<ControllerRunReport>) | undefined;

/**
 * The Lambda entry point. The environment is read on the first invocation (not at import, so a
 * bad variable surfaces as that invocation's error, naming the variable) and kept for the life of
 * the execution environment.
 */
export async function handler(event: ScheduledEvent): Promise<ControllerRunReport> {
  coldStart ??= createControllerHandler(controllerRuntimeFromEnv(process.env));
  return coldStart(event);
}
