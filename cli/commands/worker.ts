/**
 * `apparate worker`: runs the serving worker until SIGTERM or SIGINT. Answers go to the results
 * table when tables are given, otherwise one JSON line per answer on stdout; configs are polled
 * from the config table when tables are given.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ConfigStore } from '../../adapters/dynamo/config-store';
import { documentClientFor } from '../../adapters/dynamo/dynamo-client';
import { ExitLogWriter } from '../../adapters/dynamo/exit-log';
import { ResultStore } from '../../adapters/dynamo/result-store';
import { tableNames } from '../../adapters/dynamo/tables';
import { createRequestQueue } from '../../adapters/queue/create-queue';
import { QUEUE_KINDS, type QueueKind } from '../../adapters/queue/request-queue';
import { InputError } from '../../core/errors';
import { jsonLogger } from '../../gpu-worker/logger';
import { startMetricsServer } from '../../gpu-worker/metrics';
import { CallbackResultSink, DynamoResultSink, type ResultSink } from '../../gpu-worker/result-sink';
import { ApparateWorker, installSignalHandlers } from '../../gpu-worker/worker';
import type { Command } from '../command';
import { numberOption, requiredString } from '../options';

function choice<T extends string>(value: unknown, allowed: readonly T[], option: string, fallback?: T): T {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw new InputError(`--${option} must be one of ${allowed.join(', ')}, got ${String(value)}`);
}

export const workerCommand: Command = {
  name: 'worker',
  summary: 'serve a bundle from a request queue until SIGTERM',
  usage:
    'apparate worker --bundle <dir> --queue memory|bullmq|sqs [--queue-name <name>] [--redis-url <url>] [--tables-endpoint <url>] [--table-prefix <p>] [--metrics-port <n>] [--execution-provider cpu|cuda]',
  options: {
    bundle: { type: 'string', description: 'bundle directory written by `apparate prepare`' },
    queue: { type: 'string', description: 'request queue: memory, bullmq or sqs' },
    'queue-name': { type: 'string', description: 'BullMQ queue name, or SQS queue URL (default requests)' },
    'dead-letter-url': { type: 'string', description: 'SQS only: the dead-letter queue URL' },
    'redis-url': {
      type: 'string',
      description: 'BullMQ: Redis URL (default $REDIS_URL or redis://127.0.0.1:6379)',
    },
    'tables-endpoint': { type: 'string', description: 'DynamoDB endpoint, e.g. a local dynalite' },
    'table-prefix': {
      type: 'string',
      description: 'table-name prefix; enables results, exit logs and configs',
    },
    'metrics-port': { type: 'string', description: 'serve /metrics and /healthz on this port' },
    'execution-provider': { type: 'string', description: 'cpu or cuda (default cpu)' },
    'config-poll-ms': { type: 'string', description: 'how often to look for a newer config (default 5000)' },
  },
  async run(values, _positionals, io) {
    const bundleDir = requiredString(values, 'bundle', 'dir');
    const kind = choice<QueueKind>(values.queue, QUEUE_KINDS, 'queue');
    const provider = choice(
      values['execution-provider'],
      ['cpu', 'cuda'] as const,
      'execution-provider',
      'cpu',
    );
    const metricsPort =
      values['metrics-port'] === undefined
        ? undefined
        : numberOption(values, 'metrics-port', {
            default: 0,
            min: 0,
            minInclusive: true,
            max: 65535,
            integer: true,
          });
    const configPollMs = numberOption(values, 'config-poll-ms', { default: 5000, min: 10, integer: true });
    const name = typeof values['queue-name'] === 'string' ? values['queue-name'] : 'requests';
    const prefix = values['table-prefix'];
    const endpoint = values['tables-endpoint'];
    if (endpoint !== undefined && typeof prefix !== 'string') {
      throw new InputError('--tables-endpoint needs --table-prefix <p>');
    }
    if (kind === 'sqs' && typeof values['dead-letter-url'] !== 'string') {
      throw new InputError('--queue sqs needs --queue-name <queue URL> and --dead-letter-url <URL>');
    }
    const queue = createRequestQueue({
      kind,
      name,
      ...(typeof values['redis-url'] === 'string' ? { redisUrl: values['redis-url'] } : {}),
      ...(kind === 'sqs'
        ? { sqs: { queueUrl: name, deadLetterQueueUrl: String(values['dead-letter-url']) } }
        : {}),
    });
    const logger = jsonLogger(io.stderr);
    let client: DynamoDBClient | undefined;
    let sink: ResultSink = new CallbackResultSink((event) => {
      io.stdout.write(`${JSON.stringify(event)}\n`);
    });
    let tables: ReturnType<typeof tableNames> | undefined;
    if (typeof prefix === 'string') {
      client = new DynamoDBClient(
        typeof endpoint === 'string'
          ? {
              endpoint,
              region: process.env['AWS_REGION'] ?? 'us-east-1',
              ...(process.env['AWS_ACCESS_KEY_ID']
                ? {}
                : { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }),
            }
          : {},
      );
      tables = tableNames(prefix);
      sink = new DynamoResultSink(
        new ResultStore({ client: documentClientFor(client), tableName: tables.results }),
      );
    }
    const doc = client === undefined ? undefined : documentClientFor(client);
    const exitLog =
      doc && tables ? new ExitLogWriter({ client: doc, tableName: tables.exitLogs }) : undefined;
    let worker: ApparateWorker;
    try {
      worker = await ApparateWorker.start({
        bundleDir,
        queue,
        sink,
        executionProvider: provider,
        logger,
        configPollMs,
        ...(exitLog ? { exitLog } : {}),
        ...(doc && tables
          ? { configStore: new ConfigStore({ client: doc, tableName: tables.configs }) }
          : {}),
      });
    } catch (error) {
      await queue.close();
      await exitLog?.close();
      client?.destroy();
      throw error;
    }
    const metrics =
      metricsPort === undefined
        ? undefined
        : await startMetricsServer(metricsPort, worker.metrics, () => worker.healthy);
    if (metrics) logger.log('info', 'metrics listening', { port: metrics.port });
    const removeHandlers = installSignalHandlers(worker, logger);
    try {
      await worker.done;
      return 0;
    } finally {
      removeHandlers();
      await metrics?.close();
      await queue.close();
      await exitLog?.close();
      client?.destroy();
    }
  },
};
