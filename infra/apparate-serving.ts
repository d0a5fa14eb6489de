/**
 * `ApparateServing`: one model served on AWS. API Gateway and two Lambda functions accept requests
 * and push them to SQS; an Auto Scaling group of GPU workers batches them, runs the ramped model
 * and writes results and exit logs to DynamoDB; a scheduled controller function retunes the
 * thresholds and ramps and publishes new configs; alarms and a dashboard watch it all.
 *
 * Every permission is a `grant*` with exact actions, and the environment variable that tells the
 * code which resource to use is set on the line beside the grant that lets it use it.
 */
import { join } from 'node:path';
import { CfnOutput, Duration, Names, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ENV } from '../core/deployment/cloud-names';
import { BUNDLE_PREFIX, DataStores } from './data-stores';
import { HandlerFunction, REPOSITORY_ROOT } from './handler-function';
import { ServingApi } from './serving-api';
import { ServingMonitoring } from './serving-monitoring';
import { resolveServingProps, type ApparateServingProps, type FunctionRole } from './serving-props';
import { WorkerFleet } from './worker-fleet';

export type { ApparateServingProps, ApiAuth } from './serving-props';

/** What the ingest side does with a results table: `putAccepted`/`putError` update, reads get. */
export const INGEST_RESULTS_ACTIONS = ['dynamodb:GetItem', 'dynamodb:UpdateItem'] as const;

/** The longest a controller run may take: a period, but never more than five minutes. */
const MAX_CONTROLLER_TIMEOUT = Duration.minutes(5);

export class ApparateServing extends Construct {
  readonly stores: DataStores;
  /** The model (variant) this deployment serves. */
  readonly modelName: string;
  readonly ingest: HandlerFunction;
  readonly result: HandlerFunction;
  readonly controller: HandlerFunction;
  readonly api: ServingApi;
  readonly workers: WorkerFleet;
  readonly controllerSchedule: events.Rule;
  readonly monitoring: ServingMonitoring;
  readonly vpc: ec2.IVpc;

  constructor(scope: Construct, id: string, props: ApparateServingProps) {
    super(scope, id);
    const config = resolveServingProps(props);
    const model = config.modelName;
    this.modelName = model;
    const entry = (role: FunctionRole) =>
      config.functionEntries[role] ?? join(REPOSITORY_ROOT, 'functions', `${role}.ts`);

    this.stores = new DataStores(this, 'Stores', {
      modelName: model,
      tablePrefix: Names.uniqueResourceName(this, { maxLength: 64, separator: '-' }).toLowerCase(),
      retainData: config.retainData,
      bundlePath: config.bundlePath,
    });
    const { requestQueue, deadLetterQueue, tables, bundleBucket } = this.stores;

    // Ingest: validate, enqueue, and for synchronous requests wait on the results table.
    this.ingest = new HandlerFunction(this, 'Ingest', {
      entry: entry('ingest'),
      description: `Apparate ingest (${model}): POST /v1/models/{model}/infer`,
      timeout: Duration.seconds(30),
      memorySize: 512,
    });
    this.ingest.addEnvironment(ENV.model, model);
    this.ingest.addEnvironment(ENV.defaultDeadlineMs, String(config.defaultDeadlineMs));
    requestQueue.grantSendMessages(this.ingest.role);
    this.ingest.addEnvironment(ENV.queueUrl, requestQueue.queueUrl);
    // The SQS adapter needs the dead-letter URL to exist; ingest never sends there, so no grant.
    this.ingest.addEnvironment(ENV.deadLetterQueueUrl, deadLetterQueue.queueUrl);
    // Marks each request accepted and records a failed send (UpdateItem), reads its record (GetItem).
    tables.results.grant(this.ingest.role, ...INGEST_RESULTS_ACTIONS);
    this.ingest.addEnvironment(ENV.resultsTable, tables.results.tableName);
    this.stores.grantReadBundle(this.ingest.role);
    this.ingest.addEnvironment(ENV.bundleBucket, bundleBucket.bucketName);
    this.ingest.addEnvironment(ENV.bundlePrefix, BUNDLE_PREFIX);

    // Result: request status, the model list, the live config and the OpenAPI document.
    this.result = new HandlerFunction(this, 'Result', {
      entry: entry('result'),
      description: `Apparate results (${model}): GET /v1/requests/{id}, /v1/models, /openapi.json`,
      timeout: Duration.seconds(10),
      memorySize: 512,
    });
    this.result.addEnvironment(ENV.model, model);
    tables.results.grantReadData(this.result.role);
    this.result.addEnvironment(ENV.resultsTable, tables.results.tableName);
    tables.configs.grantReadData(this.result.role);
    this.result.addEnvironment(ENV.configsTable, tables.configs.tableName);
    this.stores.grantReadBundle(this.result.role);
    this.result.addEnvironment(ENV.bundleBucket, bundleBucket.bucketName);
    this.result.addEnvironment(ENV.bundlePrefix, BUNDLE_PREFIX);

    // Controller: reads exit logs, tunes, publishes a new config version.
    const controllerTimeout =
      config.controllerPeriod.toSeconds() < MAX_CONTROLLER_TIMEOUT.toSeconds()
        ? config.controllerPeriod
        : MAX_CONTROLLER_TIMEOUT;
    this.controller = new HandlerFunction(this, 'Controller', {
      entry: entry('controller'),
      description: `Apparate controller (${model}): retunes thresholds and ramps every ${config.controllerPeriod.toHumanString()}`,
      timeout: controllerTimeout,
      memorySize: 1024,
    });
    this.controller.addEnvironment(ENV.model, model);
    this.controller.addEnvironment(ENV.accuracyConstraint, String(config.accuracyConstraint));
    this.controller.addEnvironment(ENV.rampBudget, String(config.rampBudget));
    tables.exitLogs.grantReadData(this.controller.role);
    this.controller.addEnvironment(ENV.exitLogsTable, tables.exitLogs.tableName);
    tables.configs.grantReadWriteData(this.controller.role);
    this.controller.addEnvironment(ENV.configsTable, tables.configs.tableName);
    this.stores.grantReadBundle(this.controller.role);
    this.controller.addEnvironment(ENV.bundleBucket, bundleBucket.bucketName);
    this.controller.addEnvironment(ENV.bundlePrefix, BUNDLE_PREFIX);
    this.controllerSchedule = new events.Rule(this, 'ControllerSchedule', {
      description: `Runs the Apparate controller for ${model} every ${config.controllerPeriod.toHumanString()}`,
      schedule: events.Schedule.rate(config.controllerPeriod),
      targets: [
        // A missed run is replaced by the next one, which reads the same logs; retrying adds nothing.
        new targets.LambdaFunction(this.controller.function, {
          retryAttempts: 0,
          maxEventAge: Duration.minutes(1),
        }),
      ],
    });

    this.api = new ServingApi(this, 'Api', {
      modelName: model,
      ingest: this.ingest.function,
      result: this.result.function,
      auth: config.apiAuth,
      throttlingRateLimit: config.throttlingRateLimit,
      throttlingBurstLimit: config.throttlingBurstLimit,
    });

    this.vpc = config.vpc ?? servingVpc(this);
    this.workers = new WorkerFleet(this, 'Workers', {
      vpc: this.vpc,
      instanceType: config.instanceType,
      minWorkers: config.minWorkers,
      maxWorkers: config.maxWorkers,
      backlogPerInstance: config.backlogPerInstance,
      capacity: config.workerCapacity,
      requestQueue,
      sourceDir: config.workerSourceDir ?? REPOSITORY_ROOT,
      tablePrefix: this.stores.tablePrefix,
    });
    const worker = this.workers.environment;
    const workerRole = this.workers.role;
    worker[ENV.model] = model;
    worker[ENV.accuracyConstraint] = String(config.accuracyConstraint);
    worker[ENV.rampBudget] = String(config.rampBudget);
    worker[ENV.defaultDeadlineMs] = String(config.defaultDeadlineMs);
    requestQueue.grantConsumeMessages(workerRole);
    worker[ENV.queueUrl] = requestQueue.queueUrl;
    // Bodies that fail the schema are moved to the dead-letter queue by the worker itself.
    deadLetterQueue.grantSendMessages(workerRole);
    worker[ENV.deadLetterQueueUrl] = deadLetterQueue.queueUrl;
    tables.results.grantReadWriteData(workerRole);
    worker[ENV.resultsTable] = tables.results.tableName;
    tables.exitLogs.grantWriteData(workerRole);
    worker[ENV.exitLogsTable] = tables.exitLogs.tableName;
    // Read to follow new versions; write because bootstrap mode publishes the first config.
    tables.configs.grantReadWriteData(workerRole);
    worker[ENV.configsTable] = tables.configs.tableName;
    this.stores.grantReadBundle(workerRole);
    worker[ENV.bundleBucket] = bundleBucket.bucketName;
    worker[ENV.bundlePrefix] = BUNDLE_PREFIX;
    this.workers.finish({
      queueUrlVariable: ENV.queueUrl,
      deadLetterUrlVariable: ENV.deadLetterQueueUrl,
      bucketVariable: ENV.bundleBucket,
      bundlePrefixVariable: ENV.bundlePrefix,
      modelVariable: ENV.model,
      accuracyConstraintVariable: ENV.accuracyConstraint,
    });
    for (const grantee of [this.ingest.role, this.result.role, this.controller.role, workerRole]) {
      acknowledgeBundleReadWildcard(grantee, this.stores);
    }

    this.monitoring = new ServingMonitoring(this, 'Monitoring', {
      modelName: model,
      accuracyConstraint: config.accuracyConstraint,
      maxMessageAge: config.maxMessageAge,
      heartbeatExpected: config.minWorkers > 0,
      alarmEmail: config.alarmEmail,
      requestQueue,
      deadLetterQueue,
      workers: this.workers.autoScalingGroup,
      functions: {
        ingest: this.ingest.function,
        result: this.result.function,
        controller: this.controller.function,
      },
      api: this.api.restApi,
    });

    new CfnOutput(this, 'ApiUrl', {
      value: this.api.restApi.urlForPath(`/v1/models/${model}/infer`),
      description: 'POST inference requests here',
    });
    new CfnOutput(this, 'BundleLocation', {
      value: `s3://${bundleBucket.bucketName}/${this.stores.modelBundlePrefix}`,
      description: 'Upload the bundle here (aws s3 sync <bundle dir> <this>)',
    });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.monitoring.alarmTopic.topicArn });
    new CfnOutput(this, 'WorkerGroupName', { value: this.workers.autoScalingGroup.autoScalingGroupName });
  }
}

/**
 * Two AZs, workers in private subnets behind one NAT gateway (npm, NodeSource, SSM), flow logs on:
 * a model's own VPC, or the one a task's variants share (`TaskServing`).
 */
export function servingVpc(scope: Construct): ec2.Vpc {
  const flowLogs = new logs.LogGroup(scope, 'VpcFlowLogs', {
    retention: logs.RetentionDays.ONE_MONTH,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  return new ec2.Vpc(scope, 'Vpc', {
    maxAzs: 2,
    natGateways: 1,
    // Restricting the default security group takes a custom-resource Lambda; nothing here uses it.
    restrictDefaultSecurityGroup: false,
    subnetConfiguration: [
      { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
      { name: 'workers', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
    ],
    flowLogs: {
      all: {
        destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs),
        trafficType: ec2.FlowLogTrafficType.ALL,
      },
    },
  });
}

/**
 * Bundle reads are `s3:GetObject` on `bundles/<model>/*`: a key prefix is the narrowest resource a
 * folder of files can have, so the wildcard in the resource is acknowledged where it is granted.
 */
export function acknowledgeBundleReadWildcard(grantee: Construct, stores: DataStores): void {
  const bucket = stores.bundleBucket;
  const logicalId = Stack.of(bucket).getLogicalId(bucket.node.defaultChild as s3.CfnBucket);
  Validations.of(grantee).acknowledge({
    id: `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>/${stores.modelBundlePrefix}*]`,
    reason:
      "Read-only s3:GetObject on the objects of this model's bundle folder: a key prefix is the narrowest resource a folder of files can have.",
  });
}
