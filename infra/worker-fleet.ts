/**
 * The GPU worker fleet: an Auto Scaling group of GPU instances that long-poll the request queue,
 * with no inbound network (management through SSM Session Manager), IMDSv2 only, an encrypted root
 * volume, and either a target-tracking policy on queue backlog per in-service instance or, where a
 * fleet controller plans the workers (one group per variant of a task), no policy at all: the
 * controller sets the desired capacity. Either way a termination lifecycle hook holds a leaving
 * instance until its worker has drained (`drainScript` in worker-user-data.ts).
 */
import { Aws, Duration, IgnoreMode, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DRAIN_HOOK_NAME, workerUserDataCommands, type WorkerUserDataSettings } from './worker-user-data';

/**
 * How long a leaving instance may take to drain (stop receiving, finish its batch, hand back what it
 * held) before the termination goes on anyway.
 */
export const DRAIN_TIMEOUT = Duration.minutes(3);

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
  /**
   * `backlog`: the group scales itself on queue backlog. `planned`: a fleet controller sets the
   * desired capacity to the plan's worker count (no scaling policy competes with it).
   * @default 'backlog'
   */
  readonly capacity?: 'backlog' | 'planned';
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
  /** The backlog policy; absent where a fleet controller plans the capacity. */
  readonly scalingPolicy: autoscaling.CfnScalingPolicy | undefined;
  readonly drainHook: autoscaling.LifecycleHook;
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
      // The drain script reads the group's name from the instance's tags.
      instanceMetadataTags: true,
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

    this.drainHook = this.autoScalingGroup.addLifecycleHook('Drain', {
      lifecycleHookName: DRAIN_HOOK_NAME,
      lifecycleTransition: autoscaling.LifecycleTransition.INSTANCE_TERMINATING,
      heartbeatTimeout: DRAIN_TIMEOUT,
      defaultResult: autoscaling.DefaultResult.CONTINUE,
    });
    // Only this group's hook, named exactly; the group's id in its ARN is assigned by AWS at
    // creation and CloudFormation cannot return it, so that one segment is the only wildcard.
    // A policy of its own: the group waits for the role's default policy, so a statement naming the
    // group there would be a dependency cycle.
    const drainPolicy = new iam.Policy(this, 'DrainPolicy', {
      roles: [this.role],
      statements: [
        new iam.PolicyStatement({
          actions: ['autoscaling:CompleteLifecycleAction'],
          resources: [autoScalingGroupArn(this.autoScalingGroup.autoScalingGroupName)],
        }),
      ],
    });
    acknowledgeGroupArn(drainPolicy, this.autoScalingGroup);

    this.scalingPolicy =
      props.capacity === 'planned'
        ? undefined
        : this.backlogScalingPolicy(props.requestQueue, props.backlogPerInstance);
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

/**
 * The ARN of the Auto Scaling group named `groupName`. The segment between `autoScalingGroup:` and
 * `:autoScalingGroupName/` is an id AWS assigns when the group is created, which CloudFormation
 * cannot return; the name after it is exact, so the ARN matches this one group.
 */
export function autoScalingGroupArn(groupName: string): string {
  return `arn:${Aws.PARTITION}:autoscaling:${Aws.REGION}:${Aws.ACCOUNT_ID}:autoScalingGroup:*:autoScalingGroupName/${groupName}`;
}

/** cdk-nag's finding for that one segment, acknowledged with the reason. */
export function acknowledgeGroupArn(grantee: Construct, group: autoscaling.AutoScalingGroup): void {
  const logicalId = Stack.of(group).getLogicalId(group.node.defaultChild as autoscaling.CfnAutoScalingGroup);
  Validations.of(grantee).acknowledge({
    id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:autoscaling:<AWS::Region>:<AWS::AccountId>:autoScalingGroup:*:autoScalingGroupName/<${logicalId}>]`,
    reason:
      "The group is named exactly; the '*' stands only for the id AWS assigns to the group at creation, which CloudFormation cannot return.",
  });
}
