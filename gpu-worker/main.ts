/**
 * The worker process's wiring: from settings already checked by the caller (the `apparate worker`
 * command) to a running worker with its queue, result sink, exit-log writer, config watcher,
 * `/metrics` server, EMF lines and signal handlers, until it stops. It lives with the worker, not in
 * the CLI, so that the CLI only reads flags and the worker owns how its parts fit together.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { RedisAnswerChannel } from '../adapters/answers';
import { createRequestQueue } from '../adapters/create-queue';
import { ConfigStore, documentClientFor, ExitLogWriter, ResultStore, tableNames } from '../adapters/dynamo';
import type { QueueKind } from '../adapters/queue';
import { RedisResultStore } from '../adapters/redis';
import type { ExecutionProvider } from '../core/inference/onnx-session';
import { loadModel } from '../core/model/load-model';
import { StoreResultSink, type ResultSink } from '../core/serving/result-sink';
import { BootstrapWorker } from './bootstrap';
import { EmfEmitter } from './emf-emitter';
import { jsonLinesLogger, messageOf } from './logger';
import { startMetricsServer, WorkerMetrics } from './metrics';
import { PublishingResultSink } from './publishing-result-sink';
import { CallbackResultSink } from './result-sink';
import { ApparateWorker, installSignalHandlers, type WorkerOptions } from './worker';

export const RESULT_KINDS = ['stdout', 'redis', 'table'] as const;
export type ResultKind = (typeof RESULT_KINDS)[number];

/** What to serve: a prepared bundle, or a plain model to bootstrap ramps for. */
export type WorkerSource =
  | { readonly kind: 'bundle'; readonly bundleDir: string }
  | {
      readonly kind: 'bootstrap';
      readonly modelDir: string;
      readonly bundleOut: string;
      readonly bootstrapSamples: number;
    };

/** The worker process's settings, each already validated (the CLI says what was wrong). */
export interface WorkerProcessSettings {
  readonly source: WorkerSource;
  readonly queue: {
    readonly kind: QueueKind;
    /** BullMQ queue name, or the SQS queue URL. */
    readonly name: string;
    readonly redisUrl?: string;
    /** SQS only. */
    readonly deadLetterUrl?: string;
  };
  readonly results: ResultKind;
  /**
   * BullMQ: also publish every answer on this namespace's Redis answer channel, so that API
   * processes waiting on it are woken at once rather than reading the results after a quiet second.
   */
  readonly answersNamespace?: string;
  /** Tables for results, exit logs and configs; `endpoint` for a local dynalite. */
  readonly tables?: { readonly prefix: string; readonly endpoint?: string };
  /** The deployment's accuracy constraint, held by the local guard as by the controller. */
  readonly accuracyConstraint: number;
  readonly executionProvider: ExecutionProvider;
  /** Inference threads side by side, and operator threads in each one's sessions (see ThreadLayout). */
  readonly inferenceThreads?: number;
  readonly intraOpThreads?: number;
  readonly configPollMs: number;
  /** Serve `/metrics` and `/healthz` on this port (0: any free one). */
  readonly metricsPort?: number;
  /** Write an EMF line to stdout this often; off when absent. */
  readonly emfPeriodMs?: number;
}

export interface WorkerProcessIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

function dynamoClient(endpoint: string | undefined): DynamoDBClient {
  if (endpoint === undefined) return new DynamoDBClient({});
  return new DynamoDBClient({
    endpoint,
    region: process.env['AWS_REGION'] ?? 'us-east-1',
    ...(process.env['AWS_ACCESS_KEY_ID']
      ? {}
      : { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }),
  });
}

/**
 * Runs the worker until SIGTERM or SIGINT (or until it fails), then closes everything it opened.
 * Rejects when the bundle, model or provider is unusable; nothing is received then.
 */
export async function runWorkerProcess(settings: WorkerProcessSettings, io: WorkerProcessIo): Promise<void> {
  const { source } = settings;
  const model = source.kind === 'bootstrap' ? await loadModel(source.modelDir) : undefined;
  const { kind, name, redisUrl, deadLetterUrl } = settings.queue;
  const queue = createRequestQueue({
    kind,
    name,
    ...(redisUrl === undefined ? {} : { redisUrl }),
    ...(kind === 'sqs' ? { sqs: { queueUrl: name, deadLetterQueueUrl: String(deadLetterUrl) } } : {}),
  });
  const logger = jsonLinesLogger(io.stderr);
  const client = settings.tables === undefined ? undefined : dynamoClient(settings.tables.endpoint);
  const tables = settings.tables === undefined ? undefined : tableNames(settings.tables.prefix);
  const doc = client === undefined ? undefined : documentClientFor(client);
  const redisResults =
    settings.results === 'redis'
      ? new RedisResultStore({ namespace: name, ...(redisUrl === undefined ? {} : { redisUrl }) })
      : undefined;
  let sink: ResultSink;
  if (settings.results === 'table' && doc && tables) {
    sink = new StoreResultSink(new ResultStore({ client: doc, tableName: tables.results }));
  } else if (redisResults !== undefined) {
    sink = new StoreResultSink(redisResults);
  } else {
    sink = new CallbackResultSink((event) => {
      io.stdout.write(`${JSON.stringify(event)}\n`);
    });
  }
  const answers =
    settings.answersNamespace !== undefined && kind === 'bullmq'
      ? new RedisAnswerChannel({
          namespace: settings.answersNamespace,
          ...(redisUrl === undefined ? {} : { redisUrl }),
        })
      : undefined;
  if (answers !== undefined) {
    sink = new PublishingResultSink(answers, sink, (error, requestId) =>
      logger.log('warn', 'answer not published', { requestId, error: messageOf(error) }),
    );
  }
  const exitLog = doc && tables ? new ExitLogWriter({ client: doc, tableName: tables.exitLogs }) : undefined;
  const configStore = doc && tables ? new ConfigStore({ client: doc, tableName: tables.configs }) : undefined;
  const metrics = new WorkerMetrics();
  const common: Omit<WorkerOptions, 'bundleDir'> = {
    queue,
    sink,
    executionProvider: settings.executionProvider,
    ...(settings.inferenceThreads === undefined ? {} : { inferenceThreads: settings.inferenceThreads }),
    ...(settings.intraOpThreads === undefined ? {} : { intraOpThreads: settings.intraOpThreads }),
    logger,
    configPollMs: settings.configPollMs,
    metrics,
    // The guard must hold the constraint the controller tunes to, or the two fight over thresholds.
    guard: { constraint: settings.accuracyConstraint },
    ...(exitLog ? { exitLog } : {}),
    ...(configStore ? { configStore } : {}),
  };
  const closeAll = async (): Promise<void> => {
    await queue.close();
    await exitLog?.close();
    await redisResults?.close();
    await answers?.close();
    client?.destroy();
  };
  let running: ApparateWorker | BootstrapWorker;
  let modelId: string;
  try {
    if (source.kind === 'bootstrap' && model !== undefined) {
      running = await BootstrapWorker.start({
        ...common,
        model,
        bootstrapSamples: source.bootstrapSamples,
        bundleOut: source.bundleOut,
        ...(configStore ? { configPublisher: configStore } : {}),
      });
      modelId = model.spec.name;
    } else {
      const worker = await ApparateWorker.start({
        ...common,
        bundleDir: source.kind === 'bundle' ? source.bundleDir : '',
      });
      running = worker;
      modelId = worker.modelId;
    }
  } catch (error) {
    await closeAll();
    throw error;
  }
  const server =
    settings.metricsPort === undefined
      ? undefined
      : await startMetricsServer(settings.metricsPort, metrics, () => running.healthy);
  if (server) logger.log('info', 'metrics listening', { port: server.port });
  const emf =
    settings.emfPeriodMs === undefined
      ? undefined
      : await EmfEmitter.create({
          metrics,
          model: modelId,
          periodMs: settings.emfPeriodMs,
          stream: io.stdout,
        });
  emf?.start();
  const removeHandlers = installSignalHandlers(running, logger);
  try {
    await running.done;
  } finally {
    removeHandlers();
    await emf?.stop();
    await server?.close();
    await closeAll();
  }
}
