/**
 * Names that the CDK app and the deployed code must agree on: the environment variables through
 * which the app hands resource names to the Lambda functions and the worker, and the CloudWatch
 * metrics (embedded-metric-format logs) the worker emits and the alarms and dashboard read. Keeping
 * them in one file makes a rename a compile error on both sides instead of a silent broken alarm.
 */

/** Environment variables read (once, at start) by the functions and the worker. */
export const ENV = {
  /** The model this deployment serves (one model per `ApparateServing`). */
  model: 'APPARATE_MODEL',
  /** SQS URL of the request queue. */
  queueUrl: 'APPARATE_QUEUE_URL',
  /** SQS URL of the request queue's dead-letter queue. */
  deadLetterQueueUrl: 'APPARATE_DLQ_URL',
  resultsTable: 'APPARATE_RESULTS_TABLE',
  exitLogsTable: 'APPARATE_EXIT_LOGS_TABLE',
  configsTable: 'APPARATE_CONFIGS_TABLE',
  /** S3 bucket holding bundles under `<prefix><model>/`. */
  bundleBucket: 'APPARATE_BUNDLE_BUCKET',
  /** Key prefix of bundles in the bucket, ending in `/`. */
  bundlePrefix: 'APPARATE_BUNDLE_PREFIX',
  /** Minimum agreement with the full model, (0.5, 1]. */
  accuracyConstraint: 'APPARATE_ACCURACY_CONSTRAINT',
  /** Share of the plain model's latency ramps may add, (0, 0.5]. */
  rampBudget: 'APPARATE_RAMP_BUDGET',
  /** Default request deadline when a request names none, ms. */
  defaultDeadlineMs: 'APPARATE_DEFAULT_DEADLINE_MS',
  /** The task a fleet controller plans (`digits`, `spam`). */
  task: 'APPARATE_TASK',
  /** JSON object: each variant of the task, its Auto Scaling group's name and its exit-logs table. */
  fleetVariants: 'APPARATE_FLEET_VARIANTS',
  /** The fleet's worker budget W, over all variants. */
  maxWorkers: 'APPARATE_MAX_WORKERS',
  /**
   * JSON object: each variant of the task a task API serves, and its deployment's queue, tables and
   * bundle bucket (`core/deployment/task-variants.ts`). Set, the ingest and result functions serve
   * the task and its variants instead of one model.
   */
  taskVariants: 'APPARATE_TASK_VARIANTS',
  /** The configs table holding a task's published fleet plans. */
  plansTable: 'APPARATE_PLANS_TABLE',
} as const;

/** CloudWatch namespace of every metric the worker emits. */
export const METRIC_NAMESPACE = 'Apparate';

/** The single dimension every worker metric carries. */
export const METRIC_DIMENSION_MODEL = 'Model';

/** Metric names in embedded-metric-format logs. */
export const METRICS = {
  /** 1 per heartbeat period per worker; a missing heartbeat means no worker is serving. */
  heartbeat: 'WorkerHeartbeat',
  /** Requests served in the period. */
  requestsServed: 'RequestsServed',
  /** Requests answered early in the period. */
  earlyExits: 'EarlyExits',
  /** Agreement of early answers with the full model over the worker's window, 0..1. */
  windowAgreement: 'WindowAgreement',
  /** Median latency to the released answer (early or final), ms. */
  servedLatencyP50Ms: 'ServedLatencyP50Ms',
  /** Median latency to the final answer, ms. */
  finalLatencyP50Ms: 'FinalLatencyP50Ms',
  /** Requests dropped because their deadline could not be met. */
  deadlineExceeded: 'DeadlineExceeded',
  /** Exit-log items dropped because DynamoDB was too slow. */
  droppedLogItems: 'DroppedLogItems',
  /** The config version serving now. */
  configVersion: 'ConfigVersion',
} as const;
