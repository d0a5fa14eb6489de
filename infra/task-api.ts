/**
 * The API of a task on AWS: one API Gateway in front of all the task's variant deployments. Its
 * ingest function knows every variant's queue, results table and bundle, and the table where the
 * task's fleet controller publishes its plans; a request naming the task is queued to a variant by
 * the plan's weights (`functions/task/task-wiring.ts`), and a request naming a variant goes to that
 * variant. Its result function reads every variant's results and configs. One API per task, rather
 * than a router in front of the variants' own APIs, so a request takes one hop and one client key,
 * and each variant's own API keeps serving that variant alone.
 *
 * Permissions are exact actions on exact resources: the ingest may send to each variant's request
 * queue, get and update items in each variant's results table (mark accepted, record a failed
 * send), query the plans, and read each variant's bundle; the result function may get results,
 * query configs and read bundles.
 */
import { join } from 'node:path';
import { CfnOutput, Duration, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { ENV } from '../core/deployment/cloud-names';
import type { TaskVariantResources } from '../core/deployment/task-variants';
import { InputError } from '../core/errors';
import { taskIdSchema } from '../core/fleet/tasks';
import {
  acknowledgeBundleReadWildcard,
  INGEST_RESULTS_ACTIONS,
  type ApparateServing,
} from './apparate-serving';
import { BUNDLE_PREFIX } from './data-stores';
import { HandlerFunction, REPOSITORY_ROOT } from './handler-function';
import { ServingApi } from './serving-api';
import { integerIn, type ApiAuth } from './serving-props';

export interface TaskApiProps {
  /** The task's name (`digits`, `spam`), the path clients name. */
  readonly task: string;
  /** The task's variant deployments. */
  readonly variants: readonly ApparateServing[];
  /**
   * The table holding the task's published plans.
   * @default the first variant's configs table, where `TaskFleet` publishes them
   */
  readonly plansTable?: dynamodb.ITable;
  /** @default 'apiKey' */
  readonly apiAuth?: ApiAuth;
  /** @default 100 */
  readonly throttlingRateLimit?: number;
  /** @default 200 */
  readonly throttlingBurstLimit?: number;
  /** Deadline of a request that names none, ms, 1 to 29000 (API Gateway waits at most 29 s). @default 5000 */
  readonly defaultDeadlineMs?: number;
  /** The functions' entry files; tests give a stub so synthesis does not bundle. */
  readonly functionEntries?: { readonly ingest?: string; readonly result?: string };
}

export class TaskApi extends Construct {
  readonly ingest: HandlerFunction;
  readonly result: HandlerFunction;
  readonly api: ServingApi;

  constructor(scope: Construct, id: string, props: TaskApiProps) {
    super(scope, id);
    const task = taskIdSchema.safeParse(props.task);
    if (!task.success)
      throw new InputError(`TaskApi task ${JSON.stringify(props.task)}: ${task.error.issues[0]?.message}`);
    const [first] = props.variants;
    if (first === undefined) throw new InputError('TaskApi needs at least one variant deployment');
    const names = props.variants.map((v) => v.modelName);
    if (names.includes(props.task)) {
      throw new InputError(`TaskApi task ${props.task} cannot also name one of its variants`);
    }
    if (new Set(names).size !== names.length) {
      throw new InputError(`TaskApi variants must be different models, got ${names.join(', ')}`);
    }
    // The same ranges as a model's deployment (infra/serving-props.ts).
    const defaultDeadlineMs = integerIn(
      'defaultDeadlineMs',
      props.defaultDeadlineMs,
      5000,
      1,
      29_000,
      'TaskApi',
    );
    const throttlingRateLimit = integerIn(
      'throttlingRateLimit',
      props.throttlingRateLimit,
      100,
      1,
      10_000,
      'TaskApi',
    );
    const throttlingBurstLimit = integerIn(
      'throttlingBurstLimit',
      props.throttlingBurstLimit,
      200,
      1,
      5000,
      'TaskApi',
    );
    const apiAuth = props.apiAuth ?? 'apiKey';
    if (apiAuth !== 'iam' && apiAuth !== 'apiKey') {
      throw new InputError(`TaskApi apiAuth must be 'iam' or 'apiKey', got ${JSON.stringify(apiAuth)}`);
    }
    const entry = (role: 'ingest' | 'result') =>
      props.functionEntries?.[role] ?? join(REPOSITORY_ROOT, 'functions', `${role}.ts`);

    this.ingest = new HandlerFunction(this, 'Ingest', {
      entry: entry('ingest'),
      description: `Apparate ingest (task ${props.task}): POST /v1/models/{model}/infer, dispatched to the variants by the fleet plan`,
      timeout: Duration.seconds(30),
      memorySize: 512,
    });
    this.result = new HandlerFunction(this, 'Result', {
      entry: entry('result'),
      description: `Apparate results (task ${props.task}): GET /v1/requests/{id}, /v1/models, /openapi.json`,
      timeout: Duration.seconds(10),
      memorySize: 512,
    });
    const ingestRole = this.ingest.role;
    const resultRole = this.result.role;

    const variants: Record<string, TaskVariantResources> = {};
    for (const variant of props.variants) {
      const { requestQueue, deadLetterQueue, tables, bundleBucket } = variant.stores;
      requestQueue.grantSendMessages(ingestRole);
      tables.results.grant(ingestRole, ...INGEST_RESULTS_ACTIONS);
      tables.results.grant(resultRole, 'dynamodb:GetItem');
      tables.configs.grant(resultRole, 'dynamodb:Query');
      for (const role of [ingestRole, resultRole]) {
        variant.stores.grantReadBundle(role);
        acknowledgeBundleReadWildcard(role, variant.stores);
      }
      // The SQS adapter needs the dead-letter URL to exist; ingest never sends there, so no grant.
      variants[variant.modelName] = {
        queueUrl: requestQueue.queueUrl,
        deadLetterQueueUrl: deadLetterQueue.queueUrl,
        resultsTable: tables.results.tableName,
        configsTable: tables.configs.tableName,
        bundleBucket: bundleBucket.bucketName,
      };
    }
    const variantsJson = Stack.of(this).toJsonString(variants);
    for (const fn of [this.ingest, this.result]) {
      fn.addEnvironment(ENV.task, props.task);
      fn.addEnvironment(ENV.taskVariants, variantsJson);
      fn.addEnvironment(ENV.bundlePrefix, BUNDLE_PREFIX);
    }
    this.ingest.addEnvironment(ENV.defaultDeadlineMs, String(defaultDeadlineMs));
    // The routing reads the newest plan (a strongly consistent query, newest version first).
    const plans = props.plansTable ?? first.stores.tables.configs;
    plans.grant(ingestRole, 'dynamodb:Query');
    this.ingest.addEnvironment(ENV.plansTable, plans.tableName);

    this.api = new ServingApi(this, 'Api', {
      modelName: props.task,
      serves: 'task',
      ingest: this.ingest.function,
      result: this.result.function,
      auth: apiAuth,
      throttlingRateLimit,
      throttlingBurstLimit,
    });
    new CfnOutput(this, 'TaskApiUrl', {
      value: this.api.restApi.urlForPath(`/v1/models/${props.task}/infer`),
      description: `POST requests for task ${props.task} here; the plan chooses the variant`,
    });
  }
}
