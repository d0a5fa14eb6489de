/**
 * The GPU worker fleet: an Auto Scaling group of GPU instances that long-poll the request queue,
 * with no inbound network (management through SSM Session Manager), IMDSv2 only, an encrypted root
 * volume, and a target-tracking policy on queue backlog per in-service instance.
 */
import { Aws, Duration, IgnoreMode, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { workerUserDataCommands, type WorkerUserDataSettings } from './worker-user-data';

/**
 * Public SSM parameter holding the current AWS Deep Learning Base OSS AMI (Ubuntu 22.04, x86-64):
 * NVIDIA driver, CUDA 12 and cuDNN preinstalled, which onnxruntime-node's CUDA execution provider
 * needs. Resolved by CloudFormation at deploy time, so synthesis needs no AWS lookup.
 */
export const GPU_AMI_PARAMETER =
  '/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id';

/** Root volume: the AMI's snapshot (CUDA, drivers, frameworks) plus node_modules and the bundle. */
const ROOT_VOLUME_GIB = 150;

/**
 * Boot to serving takes minutes (Node.js, the agent, `npm ci` with the CUDA binaries, the bundle,
 * session warm-up); scaling ignores a new instance's metrics for this long.
 */
export const WORKER_WARMUP = Duration.minutes(10);

/** What the worker's sources must contain: the CLI and everything it imports at start-up. */
const WORKER_SOURCE_PATHS = [
  'package.json',
  'package-lock.json',
  'tsconfig.json',
  'bin',
  'core',
  'adapters',
  'gpu-worker',
  'cli',
  'functions',
];

export interface WorkerFleetProps {
  readonly vpc: ec2.IVpc;
  readonly instanceType: string;
  readonly minWorkers: number;
  readonly maxWorkers: number;
  readonly backlogPerInstance: number;
  readonly requestQueue: sqs.IQueue;
  /** The repository root (or a stand-in in tests) whose sources the instances install. */
  readonly sourceDir: string;
  /** Table-name prefix passed to `apparate worker --table-prefix`. */
  readonly tablePrefix: string;
}

/**
 * The fleet. Permissions and environment are added by the caller through `role` and
 * `environment` (each variable beside its grant), then `finish()` writes the boot script.
 */
export class WorkerFleet extends Construct {
  readonly role: iam.Role;
  readonly securityGroup: ec2.SecurityGroup;
  readonly launchTemplate: ec2.LaunchTemplate;
  readonly autoScalingGroup: autoscaling.AutoScalingGroup;
  readonly logGroup: logs.LogGroup;
  readonly scalingPolicy: autoscaling.CfnScalingPolicy;
  /** The worker process's environment, filled in beside each grant. */
  readonly environment: Record<string, string> = {};
  private readonly userData: ec2.UserData;
  private readonly code: s3assets.Asset;
  private readonly tablePrefix: string;

  constructor(scope: Construct, id: string, props: WorkerFleetProps) {
    super(scope, id);
    this.tablePrefix = props.tablePrefix;

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'Apparate GPU worker: consumes requests, writes results and exit logs, reads bundles',
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
      reason:
        'Session Manager is the only way into a worker (no inbound rules, no SSH key); AWS maintains this policy as the minimum the SSM agent needs.',
    });

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.logGroup.grantWrite(this.role);
    this.logGroup.grant(this.role, 'logs:DescribeLogStreams');

    this.code = new s3assets.Asset(this, 'Code', {
      path: props.sourceDir,
      // .gitignore semantics: drop every top-level entry, then take back the worker's own.
      ignoreMode: IgnoreMode.GIT,
      exclude: ['/*', ...WORKER_SOURCE_PATHS.map((path) => `!/${path}`), 'node_modules/', '*.test.ts'],
    });
    s3.BucketGrants.fromBucket(this.code.bucket).actionsOnObjectKeys(
      this.role,
      this.code.s3ObjectKey,
      's3:GetObject',
    );

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'Apparate GPU workers: no inbound traffic; outbound to AWS APIs and package registries',
      allowAllOutbound: true,
    });

    this.userData = ec2.UserData.forLinux();
    this.launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      instanceType: new ec2.InstanceType(props.instanceType),
      machineImage: ec2.MachineImage.fromSsmParameter(GPU_AMI_PARAMETER, {
        os: ec2.OperatingSystemType.LINUX,
        userData: this.userData,
      }),
      userData: this.userData,
      role: this.role,
      securityGroup: this.securityGroup,
      requireImdsv2: true,
      httpPutResponseHopLimit: 1,
      detailedMonitoring: true,
      blockDevices: [
        {
          deviceName: '/dev/sda1',
          volume: ec2.BlockDeviceVolume.ebs(ROOT_VOLUME_GIB, {
            encrypted: true,
            volumeType: ec2.EbsDeviceVolumeType.GP3,
            deleteOnTermination: true,
          }),
        },
      ],
    });

    this.autoScalingGroup = new autoscaling.AutoScalingGroup(this, 'Group', {
      vpc: props.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      launchTemplate: this.launchTemplate,
      minCapacity: props.minWorkers,
      maxCapacity: props.maxWorkers,
      groupMetrics: [new autoscaling.GroupMetrics(autoscaling.GroupMetric.IN_SERVICE_INSTANCES)],
      defaultInstanceWarmup: WORKER_WARMUP,
      updatePolicy: autoscaling.UpdatePolicy.rollingUpdate({
        maxBatchSize: 1,
        minInstancesInService: Math.min(props.minWorkers, props.maxWorkers - 1),
      }),
    });
    Validations.of(this.autoScalingGroup).acknowledge({
      id: 'AwsSolutions-AS3',
      reason:
        "Scaling activity is shown on the dashboard and in the group's activity history; the operational alarms go to the alarm topic, which is KMS-encrypted and so cannot take Auto Scaling notifications without a service-linked-role grant on the key.",
    });

    this.scalingPolicy = this.backlogScalingPolicy(props.requestQueue, props.backlogPerInstance);
  }

  /**
   * Target tracking on visible messages per in-service instance. CDK's L2 target tracking takes
   * only a plain metric, so this is the L1 policy with a metric-math expression. With no instance
   * in service the expression falls back to the visible count, so a fleet at zero still scales out.
   */
  private backlogScalingPolicy(queue: sqs.IQueue, target: number): autoscaling.CfnScalingPolicy {
    return new autoscaling.CfnScalingPolicy(this, 'BacklogPerInstance', {
      autoScalingGroupName: this.autoScalingGroup.autoScalingGroupName,
      policyType: 'TargetTrackingScaling',
      estimatedInstanceWarmup: WORKER_WARMUP.toSeconds(),
      targetTrackingConfiguration: {
        targetValue: target,
        customizedMetricSpecification: {
          metrics: [
            {
              id: 'visible',
              metricStat: {
                metric: {
                  namespace: 'AWS/SQS',
                  metricName: 'ApproximateNumberOfMessagesVisible',
                  dimensions: [{ name: 'QueueName', value: queue.queueName }],
                },
                stat: 'Sum',
              },
              returnData: false,
            },
            {
              id: 'inService',
              metricStat: {
                metric: {
                  namespace: 'AWS/AutoScaling',
                  metricName: 'GroupInServiceInstances',
                  dimensions: [
                    { name: 'AutoScalingGroupName', value: this.autoScalingGroup.autoScalingGroupName },
                  ],
                },
                stat: 'Average',
              },
              returnData: false,
            },
            {
              id: 'backlogPerInstance',
              expression: 'IF(inService > 0, visible / inService, visible)',
              label: 'Visible requests per in-service worker',
              returnData: true,
            },
          ],
        },
      },
    });
  }

  /** Writes the boot script from the environment gathered beside the grants. Call once, last. */
  finish(
    settings: Omit<
      WorkerUserDataSettings,
      'region' | 'codeBucket' | 'codeKey' | 'environment' | 'tablePrefix' | 'logGroupName'
    >,
  ): void {
    this.userData.addCommands(
      ...workerUserDataCommands({
        ...settings,
        region: Aws.REGION,
        codeBucket: this.code.s3BucketName,
        codeKey: this.code.s3ObjectKey,
        environment: this.environment,
        tablePrefix: this.tablePrefix,
        logGroupName: this.logGroup.logGroupName,
      }),
    );
  }
}
