import { join } from 'node:path';
import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { TABLE_DESIGNS, TTL_ATTRIBUTE, tableNames, type TableRole } from '../../adapters/dynamo/tables';
import { ENV, METRICS, METRIC_DIMENSION_MODEL, METRIC_NAMESPACE } from '../../core/deployment/cloud-names';
import { ApparateServing } from '../../infra/apparate-serving';
import { GPU_AMI_PARAMETER } from '../../infra/worker-fleet';
import { allowedActionsByResource, joinedText, logicalId, onlyResource } from './template-queries';

const STUB = join(__dirname, 'fixtures', 'stub-handler.ts');
const ENTRIES = { ingest: STUB, result: STUB, controller: STUB };
const BUNDLE = join(__dirname, 'fixtures', 'bundle');

// One app with two stacks, synthesised once with the cdk-nag AwsSolutions plugin: the defaults,
// and a deployment with every optional prop set the other way.
let defaults: { stack: Stack; serving: ApparateServing; template: Template };
let custom: { stack: Stack; serving: ApparateServing; template: Template; vpc: ec2.Vpc };
let synthError: unknown;

// CDK's built-in CloudFormation schema validation runs a WASM engine that doubles this file's time
// and keeps Jest's worker alive after the tests; `npm run synth` still runs it on the real app.
const validationSetting = process.env['CDK_VALIDATION'];

afterAll(() => {
  if (validationSetting === undefined) delete process.env['CDK_VALIDATION'];
  else process.env['CDK_VALIDATION'] = validationSetting;
});

beforeAll(() => {
  process.env['CDK_VALIDATION'] = 'false';
  const app = new App();
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

  const defaultStack = new Stack(app, 'Defaults');
  const defaultServing = new ApparateServing(defaultStack, 'Serving', {
    modelName: 'mnist-resnet',
    functionEntries: ENTRIES,
  });

  const customStack = new Stack(app, 'Custom');
  const vpc = new ec2.Vpc(customStack, 'OwnVpc', { maxAzs: 2, natGateways: 1, flowLogs: { all: {} } });
  const customServing = new ApparateServing(customStack, 'Serving', {
    modelName: 'spam-bert',
    bundlePath: BUNDLE,
    accuracyConstraint: 0.95,
    apiAuth: 'iam',
    minWorkers: 0,
    maxWorkers: 8,
    instanceType: 'g6.2xlarge',
    controllerPeriod: Duration.minutes(5),
    backlogPerInstance: 50,
    alarmEmail: 'ops@example.com',
    retainData: false,
    vpc,
    functionEntries: ENTRIES,
  });

  try {
    app.synth();
  } catch (error) {
    synthError = error;
  }
  defaults = { stack: defaultStack, serving: defaultServing, template: Template.fromStack(defaultStack) };
  custom = { stack: customStack, serving: customServing, template: Template.fromStack(customStack), vpc };
});

const roleId = (
  deployment: { serving: ApparateServing },
  which: 'ingest' | 'result' | 'controller' | 'workers',
) => logicalId(which === 'workers' ? deployment.serving.workers.role : deployment.serving[which].role);

function ids(deployment: { serving: ApparateServing }) {
  const { stores } = deployment.serving;
  return {
    queue: logicalId(stores.requestQueue),
    dlq: logicalId(stores.deadLetterQueue),
    results: logicalId(stores.tables.results),
    exitLogs: logicalId(stores.tables.exitLogs),
    configs: logicalId(stores.tables.configs),
    bucket: logicalId(stores.bundleBucket),
  };
}

const READ_TABLE = [
  'dynamodb:BatchGetItem',
  'dynamodb:ConditionCheckItem',
  'dynamodb:DescribeTable',
  'dynamodb:GetItem',
  'dynamodb:GetRecords',
  'dynamodb:GetShardIterator',
  'dynamodb:Query',
  'dynamodb:Scan',
];
const WRITE_TABLE = [
  'dynamodb:BatchWriteItem',
  'dynamodb:DeleteItem',
  'dynamodb:DescribeTable',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
];
const READ_WRITE_TABLE = [...new Set([...READ_TABLE, ...WRITE_TABLE])].sort();
const LOG_WRITE = ['logs:CreateLogStream', 'logs:PutLogEvents'];

function bundleRead(bucket: string, model: string): Record<string, string[]> {
  return { [bucket]: ['s3:ListBucket'], [`${bucket}/bundles/${model}/*`]: ['s3:GetObject'] };
}

describe('ApparateServing on AWS', () => {
  describe('checks', () => {
    it('passes the cdk-nag AwsSolutions rules, with a written reason for every acknowledgement', () => {
      // Given both deployments synthesised with the AwsSolutions plugin, then synthesis succeeded
      expect(synthError).toBeUndefined();
    });

    it('fails synthesis when the AwsSolutions rules find an unacknowledged problem', () => {
      // Given the same plugin on an app with a queue that allows plain HTTP and has no dead-letter queue
      const app = new App();
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
      new sqs.Queue(new Stack(app, 'Bad'), 'PlainQueue');

      // When it is synthesised, then the rules stop it
      expect(() => app.synth()).toThrow(/AwsSolutions-SQS4/);
    });
  });

  describe('permissions', () => {
    it('lets ingest send requests, mark them accepted, read results and read its bundle, and nothing else', () => {
      // Given the default deployment
      const { queue, results, bucket } = ids(defaults);
      const logs = logicalId(defaults.serving.ingest.logGroup);

      // Then the ingest role's actions are exactly these, on exactly these resources: it records
      // each request's acceptance (and a failed send) with an update and reads it back
      expect(allowedActionsByResource(defaults.template, roleId(defaults, 'ingest'))).toEqual({
        [logs]: LOG_WRITE,
        [queue]: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
        [results]: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
        ...bundleRead(bucket, 'mnist-resnet'),
      });
    });

    it('lets the result function read results, configs and its bundle only', () => {
      const { results, configs, bucket } = ids(defaults);
      const logs = logicalId(defaults.serving.result.logGroup);

      expect(allowedActionsByResource(defaults.template, roleId(defaults, 'result'))).toEqual({
        [logs]: LOG_WRITE,
        [results]: READ_TABLE,
        [configs]: READ_TABLE,
        ...bundleRead(bucket, 'mnist-resnet'),
      });
    });

    it('lets the controller read exit logs, read and write configs, and read its bundle only', () => {
      const { exitLogs, configs, bucket } = ids(defaults);
      const logs = logicalId(defaults.serving.controller.logGroup);

      expect(allowedActionsByResource(defaults.template, roleId(defaults, 'controller'))).toEqual({
        [logs]: LOG_WRITE,
        [exitLogs]: READ_TABLE,
        [configs]: READ_WRITE_TABLE,
        ...bundleRead(bucket, 'mnist-resnet'),
      });
    });

    it('lets a worker consume requests, dead-letter bad ones, write results, logs and configs, read code and bundle, and end its drain', () => {
      const { queue, dlq, results, exitLogs, configs, bucket } = ids(defaults);
      const logs = logicalId(defaults.serving.workers.logGroup);
      const group = logicalId(defaults.serving.workers.autoScalingGroup);

      // Then the worker role's inline actions are exactly these
      const actions = allowedActionsByResource(defaults.template, roleId(defaults, 'workers'));
      const codeKey = Object.keys(actions).find((name) => name.startsWith('asset:'));
      expect(codeKey).toMatch(/^asset:[0-9a-f]{64}\.zip$/);
      expect(actions).toEqual({
        [logs]: [...LOG_WRITE, 'logs:DescribeLogStreams'].sort(),
        [`arn:{AWS::Partition}:logs:{AWS::Region}:{AWS::AccountId}:log-group:{${logs}}`]: [
          'logs:DescribeLogStreams',
        ],
        [codeKey as string]: ['s3:GetObject'],
        [queue]: [
          'sqs:ChangeMessageVisibility',
          'sqs:DeleteMessage',
          'sqs:GetQueueAttributes',
          'sqs:GetQueueUrl',
          'sqs:ReceiveMessage',
        ],
        [dlq]: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
        [results]: READ_WRITE_TABLE,
        [exitLogs]: WRITE_TABLE,
        [configs]: READ_WRITE_TABLE,
        ...bundleRead(bucket, 'mnist-resnet'),
        // Its own group's drain hook, by the group's exact name (the '*' is the id AWS assigns).
        [`arn:{AWS::Partition}:autoscaling:{AWS::Region}:{AWS::AccountId}:autoScalingGroup:*:autoScalingGroupName/{${group}}`]:
          ['autoscaling:CompleteLifecycleAction'],
      });
      // And Session Manager is its only way in
      defaults.template.hasResourceProperties('AWS::IAM::Role', {
        AssumeRolePolicyDocument: Match.objectLike({
          Statement: [Match.objectLike({ Principal: { Service: 'ec2.amazonaws.com' } })],
        }),
        ManagedPolicyArns: [
          {
            'Fn::Join': [
              '',
              ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/AmazonSSMManagedInstanceCore'],
            ],
          },
        ],
      });
    });

    it('grants no wildcard action to any function or worker', () => {
      // Given every role the deployment's own code runs as
      for (const which of ['ingest', 'result', 'controller', 'workers'] as const) {
        for (const deployment of [defaults, custom]) {
          const actions = Object.values(
            allowedActionsByResource(deployment.template, roleId(deployment, which)),
          ).flat();
          // Then each allows some actions, none of them a pattern
          expect(actions.length).toBeGreaterThan(0);
          expect(actions.filter((action) => action.includes('*'))).toEqual([]);
        }
      }
    });

    it('sets each resource name in the environment of exactly the code granted to use it', () => {
      const { queue, dlq, results, exitLogs, configs, bucket } = ids(defaults);
      const fn = (which: 'ingest' | 'result' | 'controller') => logicalId(defaults.serving[which].function);
      const environment = (which: 'ingest' | 'result' | 'controller') =>
        (
          defaults.template.findResources('AWS::Lambda::Function')[fn(which)] as {
            Properties: { Environment: { Variables: Record<string, unknown> } };
          }
        ).Properties.Environment.Variables;

      // Then ingest knows the queue, results and bundle; result knows results, configs and bundle;
      // the controller knows exit logs, configs, the bundle and the targets it tunes to
      const bundle = { [ENV.bundleBucket]: { Ref: bucket }, [ENV.bundlePrefix]: 'bundles/' };
      expect(environment('ingest')).toEqual({
        NODE_OPTIONS: '--enable-source-maps',
        [ENV.model]: 'mnist-resnet',
        [ENV.defaultDeadlineMs]: '5000',
        [ENV.queueUrl]: { Ref: queue },
        [ENV.deadLetterQueueUrl]: { Ref: dlq },
        [ENV.resultsTable]: { Ref: results },
        ...bundle,
      });
      expect(environment('result')).toEqual({
        NODE_OPTIONS: '--enable-source-maps',
        [ENV.model]: 'mnist-resnet',
        [ENV.resultsTable]: { Ref: results },
        [ENV.configsTable]: { Ref: configs },
        ...bundle,
      });
      expect(environment('controller')).toEqual({
        NODE_OPTIONS: '--enable-source-maps',
        [ENV.model]: 'mnist-resnet',
        [ENV.accuracyConstraint]: '0.99',
        [ENV.rampBudget]: '0.02',
        [ENV.exitLogsTable]: { Ref: exitLogs },
        [ENV.configsTable]: { Ref: configs },
        ...bundle,
      });
    });
  });

  describe('stores', () => {
    it('encrypts both queues, refuses plain HTTP, and dead-letters after 5 receives', () => {
      const { queue, dlq } = ids(defaults);
      const queues = defaults.template.findResources('AWS::SQS::Queue');

      // Then both queues use SQS-managed encryption
      expect(Object.keys(queues).sort()).toEqual([dlq, queue].sort());
      for (const resource of Object.values(queues)) {
        expect((resource as { Properties: Record<string, unknown> }).Properties['SqsManagedSseEnabled']).toBe(
          true,
        );
      }
      // And the request queue's redrive policy names the dead-letter queue with a bound of 5
      expect((queues[queue] as { Properties: Record<string, unknown> }).Properties['RedrivePolicy']).toEqual({
        deadLetterTargetArn: { 'Fn::GetAtt': [dlq, 'Arn'] },
        maxReceiveCount: 5,
      });
      // And each queue's policy denies requests without TLS
      for (const id of [queue, dlq]) {
        defaults.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
          Queues: [{ Ref: id }],
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
            ]),
          },
        });
      }
    });

    it("creates the three tables with the adapters' key design, TTL, on-demand billing, encryption and PITR", () => {
      const names = tableNames(defaults.serving.stores.tablePrefix);
      for (const role of Object.keys(TABLE_DESIGNS) as TableRole[]) {
        const design = TABLE_DESIGNS[role];
        const keys = 'sortKey' in design ? [design.partitionKey, design.sortKey] : [design.partitionKey];
        // Then each table matches its design in adapters/dynamo/tables.ts
        defaults.template.hasResourceProperties('AWS::DynamoDB::Table', {
          TableName: names[role],
          KeySchema: keys.map((key, index) => ({
            AttributeName: key.name,
            KeyType: index === 0 ? 'HASH' : 'RANGE',
          })),
          AttributeDefinitions: keys.map((key) => ({ AttributeName: key.name, AttributeType: key.type })),
          BillingMode: 'PAY_PER_REQUEST',
          SSESpecification: { SSEEnabled: true },
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          TimeToLiveSpecification:
            'ttlAttribute' in design ? { AttributeName: TTL_ATTRIBUTE, Enabled: true } : Match.absent(),
        });
      }
      // And they are kept when the stack is deleted, unless retainData is false
      for (const [deployment, policy] of [
        [defaults, 'Retain'],
        [custom, 'Delete'],
      ] as const) {
        for (const table of Object.values(deployment.template.findResources('AWS::DynamoDB::Table'))) {
          expect((table as { DeletionPolicy: string }).DeletionPolicy).toBe(policy);
        }
      }
    });

    it('encrypts and versions the bundle bucket, blocks public access, logs access and refuses plain HTTP', () => {
      const { bucket } = ids(defaults);
      const { properties } = onlyResource(defaults.template, 'AWS::S3::Bucket', bucket);
      expect(properties).toMatchObject({
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        VersioningConfiguration: { Status: 'Enabled' },
        LoggingConfiguration: {
          DestinationBucketName: { Ref: logicalId(defaults.serving.stores.accessLogBucket) },
        },
      });
      defaults.template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: bucket },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
    });

    it('uploads a given bundle under bundles/<model>/, and uploads nothing when none is given', () => {
      const { properties } = onlyResource(custom.template, 'Custom::CDKBucketDeployment');
      expect(properties).toMatchObject({
        DestinationBucketName: { Ref: ids(custom).bucket },
        DestinationBucketKeyPrefix: 'bundles/spam-bert/',
        Prune: true,
      });
      expect(defaults.template.findResources('Custom::CDKBucketDeployment')).toEqual({});
    });
  });

  describe('functions and API', () => {
    it('runs the three functions on Node.js 22, ARM64', () => {
      const functions = Object.values(defaults.template.findResources('AWS::Lambda::Function')).map(
        (fn) => (fn as { Properties: Record<string, unknown> }).Properties,
      );
      expect(functions).toHaveLength(3);
      for (const fn of functions) {
        expect(fn).toMatchObject({
          Runtime: 'nodejs22.x',
          Architectures: ['arm64'],
          Handler: 'index.handler',
        });
      }
    });

    it('routes the ten endpoints to the two functions, each requiring an API key', () => {
      const ingest = logicalId(defaults.serving.ingest.function);
      const result = logicalId(defaults.serving.result.function);
      const methods = Object.values(defaults.template.findResources('AWS::ApiGateway::Method')).map(
        (method) => (method as { Properties: Record<string, unknown> }).Properties,
      );
      // Then every method needs a key and proxies to the function that owns its route
      expect(methods).toHaveLength(10);
      const targets = methods.map((method) => ({
        verb: method['HttpMethod'],
        apiKeyRequired: method['ApiKeyRequired'],
        target: joinedText((method['Integration'] as { Uri: unknown }).Uri).includes(ingest)
          ? 'ingest'
          : joinedText((method['Integration'] as { Uri: unknown }).Uri).includes(result)
            ? 'result'
            : 'other',
        type: (method['Integration'] as { Type: string }).Type,
      }));
      // (v1 infer, and the five Open Inference Protocol routes the ingest function translates)
      const ingestTargets = targets.filter((t) => t.target === 'ingest');
      expect(ingestTargets).toHaveLength(6);
      expect(ingestTargets.filter((t) => t.verb === 'POST')).toHaveLength(2);
      expect(ingestTargets.every((t) => t.apiKeyRequired === true && t.type === 'AWS_PROXY')).toBe(true);
      expect(targets.filter((t) => t.target === 'result')).toHaveLength(4);
      // ... and the ingest integrations stream their response (early answer, then final) through
      // the function's response-streaming invocation, while the result routes stay buffered
      const integrations = methods.map((method) => method['Integration'] as Record<string, unknown>);
      const streamed = integrations.filter((integration) => integration['ResponseTransferMode'] === 'STREAM');
      expect(streamed).toHaveLength(6);
      for (const integration of streamed) {
        expect(joinedText(integration['Uri'])).toContain(ingest);
        expect(joinedText(integration['Uri'])).toContain('/response-streaming-invocations');
      }
      const buffered = integrations.filter((integration) => !streamed.includes(integration));
      expect(
        buffered.some((integration) => joinedText(integration['Uri']).includes('response-streaming')),
      ).toBe(false);
      expect(targets.every((t) => t.verb === 'POST' || (t.verb === 'GET' && t.apiKeyRequired === true))).toBe(
        true,
      );
      const paths = Object.values(defaults.template.findResources('AWS::ApiGateway::Resource')).map(
        (resource) => (resource as { Properties: { PathPart: string } }).Properties.PathPart,
      );
      expect(paths.sort()).toEqual(
        [
          ...['config', 'infer', 'models', 'openapi.json', 'requests', 'v1', '{id}', '{model}'],
          ...['v2', 'health', 'live', 'ready', 'models', '{model}', 'ready', 'infer'],
        ].sort(),
      );
      // And PNG and JPEG bodies pass through as binary, so an image file reaches the ingest
      // function intact (base64 in the proxy event), while JSON stays text
      defaults.template.hasResourceProperties('AWS::ApiGateway::RestApi', {
        BinaryMediaTypes: ['image/png', 'image/jpeg'],
      });
      // And a usage plan throttles the key's traffic like the stage does
      defaults.template.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
        Throttle: { RateLimit: 100, BurstLimit: 200 },
      });
      defaults.template.resourceCountIs('AWS::ApiGateway::ApiKey', 1);
      defaults.template.hasResourceProperties('AWS::ApiGateway::Stage', {
        StageName: 'prod',
        MethodSettings: [
          Match.objectLike({ ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200, LoggingLevel: 'ERROR' }),
        ],
        AccessLogSetting: Match.objectLike({ DestinationArn: Match.anyValue() }),
      });
    });

    it('requires SigV4 (IAM) on every method and creates no key when apiAuth is iam', () => {
      const methods = Object.values(custom.template.findResources('AWS::ApiGateway::Method')).map(
        (method) => (method as { Properties: Record<string, unknown> }).Properties,
      );
      expect(methods.map((method) => method['AuthorizationType'])).toEqual(Array(10).fill('AWS_IAM'));
      custom.template.resourceCountIs('AWS::ApiGateway::ApiKey', 0);
      custom.template.resourceCountIs('AWS::ApiGateway::UsagePlan', 0);
    });

    it('runs the controller on a schedule at the controller period', () => {
      expect(onlyResource(defaults.template, 'AWS::Events::Rule').properties).toMatchObject({
        ScheduleExpression: 'rate(1 minute)',
        Targets: [{ Arn: { 'Fn::GetAtt': [logicalId(defaults.serving.controller.function), 'Arn'] } }],
      });
      expect(onlyResource(custom.template, 'AWS::Events::Rule').properties).toMatchObject({
        ScheduleExpression: 'rate(5 minutes)',
      });
    });
  });

  describe('GPU workers', () => {
    it('launches the GPU deep-learning AMI with IMDSv2 required and an encrypted root volume', () => {
      const { properties } = onlyResource(defaults.template, 'AWS::EC2::LaunchTemplate');
      const data = properties['LaunchTemplateData'] as Record<string, unknown>;
      expect(data).toMatchObject({
        InstanceType: 'g5.xlarge',
        MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1 },
        BlockDeviceMappings: [{ Ebs: { Encrypted: true } }],
      });
      // And the image id comes from the public SSM parameter, resolved at deploy time
      const imageParameter = (data['ImageId'] as { Ref: string }).Ref;
      const parameters = (defaults.template.toJSON() as { Parameters: Record<string, unknown> }).Parameters;
      expect(parameters[imageParameter]).toMatchObject({
        Type: 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>',
        Default: GPU_AMI_PARAMETER,
      });
      custom.template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
        LaunchTemplateData: Match.objectLike({ InstanceType: 'g6.2xlarge' }),
      });
    });

    it('gives the workers a security group with no inbound rules', () => {
      const { id, properties } = onlyResource(
        defaults.template,
        'AWS::EC2::SecurityGroup',
        logicalId(defaults.serving.workers.securityGroup),
      );
      expect(properties['SecurityGroupIngress']).toBeUndefined();
      expect(id).toBeTruthy();
      defaults.template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 0);
    });

    it('sizes the group by the worker bounds and records in-service instances for scaling', () => {
      defaults.template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
        MinSize: '1',
        MaxSize: '4',
        MetricsCollection: [{ Granularity: '1Minute', Metrics: ['GroupInServiceInstances'] }],
      });
      custom.template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
        MinSize: '0',
        MaxSize: '8',
        VPCZoneIdentifier: Match.anyValue(),
      });
      // And a passed VPC is used rather than a new one
      custom.template.resourceCountIs('AWS::EC2::VPC', 1);
      expect(custom.serving.vpc).toBe(custom.vpc);
    });

    it('tracks the queue backlog per in-service worker at the target', () => {
      const queue = ids(defaults).queue;
      const group = logicalId(defaults.serving.workers.autoScalingGroup);
      const { properties } = onlyResource(defaults.template, 'AWS::AutoScaling::ScalingPolicy');
      // Then the policy aims at 200 visible requests per in-service worker, counting all visible
      // requests when none is in service, so an empty fleet scales out too
      expect(properties).toMatchObject({
        AutoScalingGroupName: { Ref: group },
        PolicyType: 'TargetTrackingScaling',
        TargetTrackingConfiguration: {
          TargetValue: 200,
          CustomizedMetricSpecification: {
            Metrics: [
              {
                Id: 'visible',
                MetricStat: {
                  Metric: {
                    Namespace: 'AWS/SQS',
                    MetricName: 'ApproximateNumberOfMessagesVisible',
                    Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queue, 'QueueName'] } }],
                  },
                },
                ReturnData: false,
              },
              {
                Id: 'inService',
                MetricStat: {
                  Metric: {
                    Namespace: 'AWS/AutoScaling',
                    MetricName: 'GroupInServiceInstances',
                    Dimensions: [{ Name: 'AutoScalingGroupName', Value: { Ref: group } }],
                  },
                },
                ReturnData: false,
              },
              {
                Id: 'backlogPerInstance',
                Expression: 'IF(inService > 0, visible / inService, visible)',
                ReturnData: true,
              },
            ],
          },
        },
      });
      expect(onlyResource(custom.template, 'AWS::AutoScaling::ScalingPolicy').properties).toMatchObject({
        TargetTrackingConfiguration: { TargetValue: 50 },
      });
    });

    it('boots each instance into the worker service on SQS with the CUDA build of onnxruntime-node', () => {
      const { properties } = onlyResource(defaults.template, 'AWS::EC2::LaunchTemplate');
      const script = joinedText((properties['LaunchTemplateData'] as { UserData: unknown }).UserData);
      const { queue, dlq, results } = ids(defaults);
      // Then the script installs Node.js 22, the code and its CUDA binaries, and starts the service
      expect(script).toContain('setup_22.x');
      expect(script).toContain(
        'npm ci --omit=dev --no-audit --no-fund --ignore-scripts=false --onnxruntime-node-install=cuda12',
      );
      expect(script).toContain('systemctl enable --now apparate-worker.service');
      expect(script).toMatch(
        /ExecStart=\/usr\/bin\/node \/opt\/apparate\/app\/bin\/apparate\.js worker .*--queue sqs/,
      );
      expect(script).toContain(`--table-prefix ${defaults.serving.stores.tablePrefix}`);
      // And the environment file carries the names beside the worker's grants
      expect(script).toContain(`${ENV.queueUrl}={${queue}}`);
      expect(script).toContain(`${ENV.deadLetterQueueUrl}={${dlq}}`);
      expect(script).toContain(`${ENV.resultsTable}={${results}}`);
      expect(script).toContain(`${ENV.model}=mnist-resnet`);
      // And the worker's local guard holds the deployment's accuracy constraint
      expect(script).toContain(`--accuracy-constraint \${${ENV.accuracyConstraint}}`);
      expect(script).toContain(`${ENV.accuracyConstraint}=0.99`);
      const customScript = joinedText(
        (
          onlyResource(custom.template, 'AWS::EC2::LaunchTemplate').properties['LaunchTemplateData'] as {
            UserData: unknown;
          }
        ).UserData,
      );
      expect(customScript).toContain(`${ENV.accuracyConstraint}=0.95`);
    });
  });

  describe('alarms and dashboard', () => {
    function alarms(template: Template): Array<Record<string, unknown>> {
      return Object.values(template.findResources('AWS::CloudWatch::Alarm')).map(
        (alarm) => (alarm as { Properties: Record<string, unknown> }).Properties,
      );
    }
    const topic = (deployment: { serving: ApparateServing }) => ({
      Ref: logicalId(deployment.serving.monitoring.alarmTopic),
    });

    it('alarms on dead letters, old requests, a missing heartbeat and agreement under the constraint', () => {
      const { queue, dlq } = ids(defaults);
      const dimension = [{ Name: METRIC_DIMENSION_MODEL, Value: 'mnist-resnet' }];
      expect(alarms(defaults.template)).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            MetricName: 'ApproximateNumberOfMessagesVisible',
            Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlq, 'QueueName'] } }],
            Threshold: 1,
            ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          }),
          expect.objectContaining({
            MetricName: 'ApproximateAgeOfOldestMessage',
            Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queue, 'QueueName'] } }],
            Threshold: 60,
          }),
          expect.objectContaining({
            Namespace: METRIC_NAMESPACE,
            MetricName: METRICS.heartbeat,
            Dimensions: dimension,
            ComparisonOperator: 'LessThanThreshold',
            Threshold: 1,
            TreatMissingData: 'breaching',
          }),
          expect.objectContaining({
            Namespace: METRIC_NAMESPACE,
            MetricName: METRICS.windowAgreement,
            Dimensions: dimension,
            ComparisonOperator: 'LessThanThreshold',
            Threshold: 0.99,
          }),
        ]),
      );
      // And every alarm notifies the alarm topic
      expect(alarms(defaults.template)).toHaveLength(4);
      for (const alarm of alarms(defaults.template)) expect(alarm['AlarmActions']).toEqual([topic(defaults)]);
    });

    it('drops the heartbeat alarm when zero workers is allowed, tracks the given constraint, and mails the given address', () => {
      const names = alarms(custom.template).map((alarm) => alarm['MetricName']);
      expect(names).not.toContain(METRICS.heartbeat);
      expect(alarms(custom.template)).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ MetricName: METRICS.windowAgreement, Threshold: 0.95 }),
        ]),
      );
      custom.template.hasResourceProperties('AWS::SNS::Subscription', {
        Protocol: 'email',
        Endpoint: 'ops@example.com',
        TopicArn: topic(custom),
      });
      defaults.template.resourceCountIs('AWS::SNS::Subscription', 0);
    });

    it('encrypts the alarm topic with a rotated key', () => {
      const key = onlyResource(defaults.template, 'AWS::KMS::Key');
      expect(key.properties).toMatchObject({ EnableKeyRotation: true });
      expect(onlyResource(defaults.template, 'AWS::SNS::Topic').properties).toMatchObject({
        KmsMasterKeyId: { 'Fn::GetAtt': [key.id, 'Arn'] },
      });
    });

    it('draws the worker metrics on one dashboard', () => {
      const { properties } = onlyResource(defaults.template, 'AWS::CloudWatch::Dashboard');
      const body = joinedText(properties['DashboardBody']);
      for (const metric of [
        METRICS.requestsServed,
        METRICS.earlyExits,
        METRICS.windowAgreement,
        METRICS.servedLatencyP50Ms,
        METRICS.configVersion,
      ]) {
        expect(body).toContain(`"${metric}"`);
      }
      expect(body).toContain('ApproximateAgeOfOldestMessage');
      expect(body).toContain('GroupInServiceInstances');
    });
  });
});
