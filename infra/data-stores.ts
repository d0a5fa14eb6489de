/**
 * Where the deployment keeps state: the request queue and its dead-letter queue, the three tables
 * and the bundle bucket. Table keys and TTL come from `adapters/dynamo/tables.ts` and the receive
 * bound from the queue adapters' own default, so the stores the code talks to and the ones
 * deployed cannot drift apart. Everything is encrypted at rest and refuses plain-HTTP access.
 */
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DEFAULT_MAX_RECEIVES, DEFAULT_VISIBILITY_TIMEOUT_MS } from '../adapters/queue';
import { TABLE_DESIGNS, tableNames, type TableDesign, type TableRole } from '../adapters/dynamo';

/** Key prefix of bundles in the bucket; a model's bundle sits under `<prefix><model>/`. */
export const BUNDLE_PREFIX = 'bundles/';

/**
 * Receives before a request is moved to the dead-letter queue: the adapters' default (5), so a
 * worker crash mid-batch (one receive) never dead-letters a good request, while a poison message
 * stops after a bounded number of attempts.
 */
export const MAX_RECEIVE_COUNT = DEFAULT_MAX_RECEIVES;

/**
 * Requests carry deadlines of at most 29 s, so an hour-old request is useless; dropping it bounds
 * what piles up while no worker runs.
 */
const REQUEST_RETENTION = Duration.hours(1);
/** Dead letters are kept the longest SQS allows, for diagnosis. */
const DEAD_LETTER_RETENTION = Duration.days(14);
/** The ingest function's body limit is the same 256 KiB, so any accepted request fits. */
const MAX_MESSAGE_BYTES = 256 * 1024;

export interface DataStoresProps {
  readonly modelName: string;
  /** Table names are `<tablePrefix>-results` and so on, as the worker's `--table-prefix` expects. */
  readonly tablePrefix: string;
  readonly retainData: boolean;
  readonly bundlePath: string | undefined;
}

/** The queue, tables and bucket of one deployment, with grants that name exact actions. */
export class DataStores extends Construct {
  readonly requestQueue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly tables: Readonly<Record<TableRole, dynamodb.Table>>;
  readonly bundleBucket: s3.Bucket;
  readonly accessLogBucket: s3.Bucket;
  readonly tablePrefix: string;
  /** Key prefix of this deployment's bundle, `bundles/<model>/`. */
  readonly modelBundlePrefix: string;

  constructor(scope: Construct, id: string, props: DataStoresProps) {
    super(scope, id);
    const removalPolicy = props.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    this.tablePrefix = props.tablePrefix;
    this.modelBundlePrefix = `${BUNDLE_PREFIX}${props.modelName}/`;

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: DEAD_LETTER_RETENTION,
    });
    this.requestQueue = new sqs.Queue(this, 'RequestQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.millis(DEFAULT_VISIBILITY_TIMEOUT_MS),
      retentionPeriod: REQUEST_RETENTION,
      maxMessageSizeBytes: MAX_MESSAGE_BYTES,
      receiveMessageWaitTime: Duration.seconds(20),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: MAX_RECEIVE_COUNT },
    });

    const names = tableNames(props.tablePrefix);
    const table = (role: TableRole): dynamodb.Table => {
      const design: TableDesign = TABLE_DESIGNS[role];
      return new dynamodb.Table(this, `${role[0]?.toUpperCase()}${role.slice(1)}Table`, {
        tableName: names[role],
        partitionKey: { name: design.partitionKey.name, type: attributeType(design.partitionKey.type) },
        ...(design.sortKey
          ? { sortKey: { name: design.sortKey.name, type: attributeType(design.sortKey.type) } }
          : {}),
        ...(design.ttlAttribute ? { timeToLiveAttribute: design.ttlAttribute } : {}),
        billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
        encryption: dynamodb.TableEncryption.AWS_MANAGED,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        removalPolicy,
      });
    };
    this.tables = { results: table('results'), exitLogs: table('exitLogs'), configs: table('configs') };

    this.accessLogBucket = new s3.Bucket(this, 'AccessLogBucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      lifecycleRules: [{ expiration: Duration.days(90) }],
      removalPolicy,
    });
    this.bundleBucket = new s3.Bucket(this, 'BundleBucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogBucket,
      serverAccessLogsPrefix: 'bundle-bucket/',
      lifecycleRules: [{ noncurrentVersionExpiration: Duration.days(30) }],
      removalPolicy,
    });

    if (props.bundlePath !== undefined) {
      const upload = new s3deploy.BucketDeployment(this, 'BundleUpload', {
        sources: [s3deploy.Source.asset(props.bundlePath)],
        destinationBucket: this.bundleBucket,
        destinationKeyPrefix: this.modelBundlePrefix,
        prune: true,
        retainOnDelete: props.retainData,
      });
      acknowledgeBucketDeployment(upload, this.bundleBucket);
    }
  }

  /**
   * Lets `grantee` read this deployment's bundle: `s3:GetObject` on its objects and `s3:ListBucket`
   * limited to its prefix (so a missing file reads as absent rather than access denied, and
   * `aws s3 sync` works). Exact actions, where the bucket's own `grantRead` would give `s3:GetObject*`
   * and `s3:List*`.
   */
  grantReadBundle(grantee: iam.IGrantable): void {
    this.bundleBucket.grants.actionsOnObjectKeys(grantee, `${this.modelBundlePrefix}*`, 's3:GetObject');
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket'],
      resourceArns: [this.bundleBucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${this.modelBundlePrefix}*`, this.modelBundlePrefix] } },
    });
  }
}

function attributeType(type: 'S' | 'N'): dynamodb.AttributeType {
  return type === 'S' ? dynamodb.AttributeType.STRING : dynamodb.AttributeType.NUMBER;
}

/**
 * `BucketDeployment` runs an AWS-provided Lambda whose role and runtime are not ours to shape; its
 * findings are acknowledged on that handler alone, with why each is acceptable.
 */
function acknowledgeBucketDeployment(upload: s3deploy.BucketDeployment, bucket: s3.Bucket): void {
  const handlerScope = upload.handlerRole.node.scope ?? upload;
  const bucketId = Stack.of(bucket).getLogicalId(bucket.node.defaultChild as s3.CfnBucket);
  const copyReason =
    'The CDK BucketDeployment handler copies the bundle from the CDK asset bucket into the bundle bucket and prunes stale files; aws-cdk-lib grants it these S3 action groups, only while deploying.';
  const reasons: Array<[string, string]> = [
    ...[
      'Action::s3:GetObject*',
      'Action::s3:GetBucket*',
      'Action::s3:List*',
      'Action::s3:DeleteObject*',
      'Action::s3:Abort*',
      'Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*',
      `Resource::<${bucketId}.Arn>/*`,
    ].map((finding): [string, string] => [`AwsSolutions-IAM5[${finding}]`, copyReason]),
    [
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      'The CDK BucketDeployment handler only writes its own logs with this AWS-managed policy; it runs during deployments alone.',
    ],
    [
      'AwsSolutions-L1',
      "The CDK BucketDeployment handler's runtime is chosen and updated by aws-cdk-lib, not by this app.",
    ],
  ];
  for (const [id, reason] of reasons) Validations.of(handlerScope).acknowledge({ id, reason });
}
