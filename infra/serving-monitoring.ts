/**
 * Alarms and the dashboard. The worker metrics are read by the names in
 * `core/deployment/cloud-names.ts`, the same ones the worker writes as embedded-metric-format logs,
 * so renaming a metric breaks compilation instead of silently blinding an alarm.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as apigateway from 'aws-cdk-lib/aws-apigateway';
import type * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRICS, METRIC_DIMENSION_MODEL, METRIC_NAMESPACE } from '../core/deployment/cloud-names';

/**
 * Period of the worker-metric alarms. Workers emit one metrics line a minute, so five minutes
 * without a heartbeat is five missed emissions, not one delayed log delivery.
 */
export const WORKER_ALARM_PERIOD = Duration.minutes(5);

export interface ServingMonitoringProps {
  readonly modelName: string;
  readonly accuracyConstraint: number;
  readonly maxMessageAge: Duration;
  /** With no workers as the expected state (minWorkers 0), a missing heartbeat is no alarm. */
  readonly heartbeatExpected: boolean;
  readonly alarmEmail: string | undefined;
  readonly requestQueue: sqs.IQueue;
  readonly deadLetterQueue: sqs.IQueue;
  readonly workers: autoscaling.AutoScalingGroup;
  readonly functions: Readonly<Record<string, lambda.IFunction>>;
  readonly api: apigateway.RestApi;
}

/** The alarm topic, the four alarms and one dashboard. */
export class ServingMonitoring extends Construct {
  readonly alarmTopic: sns.Topic;
  readonly deadLetterAlarm: cloudwatch.Alarm;
  readonly oldestMessageAlarm: cloudwatch.Alarm;
  readonly heartbeatAlarm: cloudwatch.Alarm | undefined;
  readonly agreementAlarm: cloudwatch.Alarm;
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: ServingMonitoringProps) {
    super(scope, id);
    // CloudWatch can publish to an encrypted topic only with a customer-managed key that lets it.
    const topicKey = new kms.Key(this, 'AlarmTopicKey', {
      description: 'Encrypts the Apparate alarm topic',
      enableKeyRotation: true,
      // Only the topic's messages depend on it; it goes (after the waiting period) with the stack.
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    topicKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
      }),
    );
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', {
      displayName: `Apparate alarms (${props.modelName})`,
      masterKey: topicKey,
      enforceSSL: true,
    });
    this.alarmTopic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarms',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.alarmTopic.topicArn],
      }),
    );
    if (props.alarmEmail !== undefined) {
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    }
    const notify = new actions.SnsAction(this.alarmTopic);
    const workerMetric = (metricName: string, statistic: string) =>
      new cloudwatch.Metric({
        namespace: METRIC_NAMESPACE,
        metricName,
        dimensionsMap: { [METRIC_DIMENSION_MODEL]: props.modelName },
        statistic,
        period: WORKER_ALARM_PERIOD,
      });

    this.deadLetterAlarm = new cloudwatch.Alarm(this, 'DeadLetterQueueNotEmpty', {
      alarmDescription:
        'Requests reached the dead-letter queue: they failed 5 receives or were malformed. Read them (see docs/deploy.md) before they expire.',
      metric: props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(1),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    this.oldestMessageAlarm = new cloudwatch.Alarm(this, 'OldestRequestAge', {
      alarmDescription: `The oldest queued request has waited ${props.maxMessageAge.toHumanString()} or more: workers are missing, failing or too few.`,
      metric: props.requestQueue.metricApproximateAgeOfOldestMessage({
        period: Duration.minutes(1),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: props.maxMessageAge.toSeconds(),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    if (props.heartbeatExpected) {
      this.heartbeatAlarm = new cloudwatch.Alarm(this, 'WorkerHeartbeatMissing', {
        alarmDescription:
          'No worker has reported a heartbeat: none is serving. Check the instances and the worker service.',
        metric: workerMetric(METRICS.heartbeat, cloudwatch.Stats.SUM),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
    }

    this.agreementAlarm = new cloudwatch.Alarm(this, 'AgreementUnderConstraint', {
      alarmDescription: `Agreement of early answers with the full model fell under the accuracy constraint (${props.accuracyConstraint}) for 10 minutes.`,
      metric: workerMetric(METRICS.windowAgreement, cloudwatch.Stats.MINIMUM),
      threshold: props.accuracyConstraint,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    for (const alarm of [
      this.deadLetterAlarm,
      this.oldestMessageAlarm,
      this.heartbeatAlarm,
      this.agreementAlarm,
    ]) {
      alarm?.addAlarmAction(notify);
    }

    this.dashboard = this.buildDashboard(props, workerMetric);
  }

  private buildDashboard(
    props: ServingMonitoringProps,
    workerMetric: (name: string, statistic: string) => cloudwatch.Metric,
  ): cloudwatch.Dashboard {
    const minute = Duration.minutes(1);
    const per = (metric: cloudwatch.Metric) => metric.with({ period: minute });
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(3),
    });
    dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({
        title: 'Alarms',
        width: 24,
        alarms: [
          this.deadLetterAlarm,
          this.oldestMessageAlarm,
          this.agreementAlarm,
          ...(this.heartbeatAlarm ? [this.heartbeatAlarm] : []),
        ],
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Requests served and answered early',
        left: [
          per(workerMetric(METRICS.requestsServed, 'Sum')),
          per(workerMetric(METRICS.earlyExits, 'Sum')),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Median latency (ms): released answer vs final answer',
        left: [
          per(workerMetric(METRICS.servedLatencyP50Ms, 'Average')),
          per(workerMetric(METRICS.finalLatencyP50Ms, 'Average')),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Agreement with the full model',
        left: [per(workerMetric(METRICS.windowAgreement, 'Minimum'))],
        leftAnnotations: [{ value: props.accuracyConstraint, label: 'accuracy constraint' }],
        width: 8,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Queue: visible requests and oldest age (s)',
        left: [props.requestQueue.metricApproximateNumberOfMessagesVisible({ period: minute })],
        right: [props.requestQueue.metricApproximateAgeOfOldestMessage({ period: minute })],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Workers in service and dead letters',
        left: [
          new cloudwatch.Metric({
            namespace: 'AWS/AutoScaling',
            metricName: 'GroupInServiceInstances',
            dimensionsMap: { AutoScalingGroupName: props.workers.autoScalingGroupName },
            statistic: 'Average',
            period: minute,
          }),
        ],
        right: [props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: minute })],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Deadlines missed, log items dropped, config version',
        left: [
          per(workerMetric(METRICS.deadlineExceeded, 'Sum')),
          per(workerMetric(METRICS.droppedLogItems, 'Sum')),
        ],
        right: [per(workerMetric(METRICS.configVersion, 'Maximum'))],
        width: 8,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'API: requests and errors',
        left: [
          props.api.metricCount({ period: minute }),
          props.api.metricClientError({ period: minute }),
          props.api.metricServerError({ period: minute }),
        ],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Functions: errors',
        left: Object.entries(props.functions).map(([name, fn]) =>
          fn.metricErrors({ period: minute, label: name }),
        ),
        width: 12,
      }),
    );
    return dashboard;
  }
}
