/**
 * A whole task on AWS (`TaskServing`, what `cdk deploy -c task=digits` builds), synthesised with the
 * cdk-nag AwsSolutions rules: three variant deployments in one VPC, the fleet controller, and the
 * task's API, whose ingest must know every variant's queue and results table and the plans' table,
 * and may do exactly what the task's routing needs on each of them.
 */
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ENV } from '../../core/deployment/cloud-names';
import { parseTaskVariants } from '../../core/deployment/task-variants';
import { InputError } from '../../core/errors';
import type { HandlerFunction } from '../../infra/handler-function';
import { TaskApi } from '../../infra/task-api';
import { TaskServing } from '../../infra/task-serving';
import { allowedActionsByResource, joinedText, logicalId } from './template-queries';

const STUB = join(__dirname, 'fixtures', 'stub-handler.ts');
const VARIANTS = ['mnist-resnet', 'mnist-resnet-medium', 'mnist-resnet-small'];
const LOG_WRITE = ['logs:CreateLogStream', 'logs:PutLogEvents'];

let stack: Stack;
let task: TaskServing;
let template: Template;
let synthError: unknown;
const validationSetting = process.env['CDK_VALIDATION'];

beforeAll(() => {
  process.env['CDK_VALIDATION'] = 'false';
  const app = new App();
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  stack = new Stack(app, 'Digits');
  task = new TaskServing(stack, 'Task', {
    task: 'digits',
    variants: VARIANTS,
    maxWorkers: 6,
    functionEntries: { ingest: STUB, result: STUB, controller: STUB, fleetController: STUB },
  });
  try {
    app.synth();
  } catch (error) {
    synthError = error;
  }
  template = Template.fromStack(stack);
});

afterAll(() => {
  if (validationSetting === undefined) delete process.env['CDK_VALIDATION'];
  else process.env['CDK_VALIDATION'] = validationSetting;
});

function environmentOf(fn: HandlerFunction): Record<string, unknown> {
  const resource = template.findResources('AWS::Lambda::Function')[logicalId(fn.function)] as {
    Properties: { Environment: { Variables: Record<string, unknown> } };
  };
  return resource.Properties.Environment.Variables;
}

function bundleRead(bucket: string, model: string): Record<string, string[]> {
  return { [bucket]: ['s3:ListBucket'], [`${bucket}/bundles/${model}/*`]: ['s3:GetObject'] };
}

describe('a task on AWS', () => {
  it('passes the cdk-nag AwsSolutions rules', () => {
    expect(synthError).toBeUndefined();
  });

  it('deploys every variant with planned capacity in one VPC, and one more API for the task', () => {
    template.resourceCountIs('AWS::EC2::VPC', 1);
    template.resourceCountIs('AWS::AutoScaling::AutoScalingGroup', VARIANTS.length);
    template.resourceCountIs('AWS::AutoScaling::ScalingPolicy', 0);
    template.resourceCountIs('AWS::ApiGateway::RestApi', VARIANTS.length + 1);
    template.hasResourceProperties('AWS::ApiGateway::RestApi', {
      Description: 'Apparate inference API for task digits',
    });
    // The task's API takes POST /v1/models/{model}/infer to the task's ingest function, with a key
    const ingest = logicalId(task.api.ingest.function);
    const posts = Object.values(template.findResources('AWS::ApiGateway::Method')).filter((method) => {
      const properties = (method as { Properties: Record<string, unknown> }).Properties;
      const integration = properties['Integration'] as { Uri: unknown };
      return properties['HttpMethod'] === 'POST' && joinedText(integration.Uri).includes(ingest);
    });
    expect(posts).toHaveLength(2); // /v1 and the Open Inference Protocol's /v2 infer
    expect(
      posts.every(
        (m) => (m as { Properties: Record<string, unknown> }).Properties['ApiKeyRequired'] === true,
      ),
    ).toBe(true);
  });

  it("tells the task's ingest every variant's queue, results, configs and bucket, and the plans' table", () => {
    const env = environmentOf(task.api.ingest);
    expect(env[ENV.task]).toBe('digits');
    expect(env[ENV.plansTable]).toEqual({ Ref: logicalId(task.variants[0]!.stores.tables.configs) });
    expect(env[ENV.plansTable]).toEqual({ Ref: logicalId(task.fleet.plansTable) });
    expect(env[ENV.bundlePrefix]).toBe('bundles/');
    expect(env[ENV.defaultDeadlineMs]).toBe('5000');
    // The JSON the functions parse, with each resource shown by its logical id
    const variants = parseTaskVariants('digits', joinedText(env[ENV.taskVariants]));
    expect(Object.keys(variants).sort()).toEqual(VARIANTS);
    for (const serving of task.variants) {
      const { requestQueue, deadLetterQueue, tables, bundleBucket } = serving.stores;
      expect(variants[serving.modelName]).toEqual({
        queueUrl: `{${logicalId(requestQueue)}}`,
        deadLetterQueueUrl: `{${logicalId(deadLetterQueue)}}`,
        resultsTable: `{${logicalId(tables.results)}}`,
        configsTable: `{${logicalId(tables.configs)}}`,
        bundleBucket: `{${logicalId(bundleBucket)}}`,
      });
    }
    // The result function reads the same variants but never the plans
    const result = environmentOf(task.api.result);
    expect(result[ENV.taskVariants]).toEqual(env[ENV.taskVariants]);
    expect(result[ENV.plansTable]).toBeUndefined();
  });

  it("lets the task's ingest send to every variant's queue, mark requests in its results, query the plans, and nothing else", () => {
    const allowed = allowedActionsByResource(template, logicalId(task.api.ingest.role));
    const expected: Record<string, string[]> = { [logicalId(task.api.ingest.logGroup)]: LOG_WRITE };
    for (const serving of task.variants) {
      const { requestQueue, tables, bundleBucket } = serving.stores;
      expected[logicalId(requestQueue)] = ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'];
      expected[logicalId(tables.results)] = ['dynamodb:GetItem', 'dynamodb:UpdateItem'];
      Object.assign(expected, bundleRead(logicalId(bundleBucket), serving.modelName));
    }
    expected[logicalId(task.variants[0]!.stores.tables.configs)] = ['dynamodb:Query'];
    expect(allowed).toEqual(expected);
    // Never a dead-letter queue, an exit-log table or another variant's configs
    for (const serving of task.variants)
      expect(allowed[logicalId(serving.stores.deadLetterQueue)]).toBeUndefined();
  });

  it("lets the task's result function read every variant's results, configs and bundle only", () => {
    const allowed = allowedActionsByResource(template, logicalId(task.api.result.role));
    const expected: Record<string, string[]> = { [logicalId(task.api.result.logGroup)]: LOG_WRITE };
    for (const serving of task.variants) {
      const { tables, bundleBucket } = serving.stores;
      expected[logicalId(tables.results)] = ['dynamodb:GetItem'];
      expected[logicalId(tables.configs)] = ['dynamodb:Query'];
      Object.assign(expected, bundleRead(logicalId(bundleBucket), serving.modelName));
    }
    expect(allowed).toEqual(expected);
    const actions = Object.values(allowed).flat();
    expect(actions.filter((action) => action.includes('*'))).toEqual([]);
  });

  it('refuses a task named like one of its variants, a bad budget and a bad deadline, naming what is allowed', () => {
    const other = new Stack(new App(), 'Other');
    expect(() => new TaskApi(other, 'A', { task: 'mnist-resnet', variants: task.variants })).toThrow(
      /cannot also name one of its variants/,
    );
    expect(() => new TaskApi(other, 'B', { task: 'digits', variants: [] })).toThrow(InputError);
    expect(
      () => new TaskApi(other, 'C', { task: 'digits', variants: task.variants, defaultDeadlineMs: 30_000 }),
    ).toThrow('TaskApi: defaultDeadlineMs must be an integer from 1 to 29000, got 30000');
    expect(() => new TaskServing(other, 'D', { task: 'digits', variants: VARIANTS, maxWorkers: 21 })).toThrow(
      /maxWorkers must be an integer from 1 to 20/,
    );
  });
});
