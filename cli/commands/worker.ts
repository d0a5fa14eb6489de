/**
 * `apparate worker`: reads and checks the flags, then runs the worker process (gpu-worker/main.ts)
 * until SIGTERM or SIGINT. Answers go to the results
 * table, to result hashes in Redis (BullMQ deployments) or as JSON lines on stdout; configs are
 * polled from the config table when tables are given. With `--model` instead of `--bundle` it
 * starts in bootstrap mode: plain model first, ramps trained on the first inputs, then exits.
 */
import { QUEUE_KINDS, type QueueKind } from '../../adapters/queue';
import { ACCURACY_CONSTRAINT } from '../../core/control/limits';
import { InputError } from '../../core/errors';
import {
  DEFAULT_EMF_PERIOD_MS,
  MIN_BOOTSTRAP_SAMPLES,
  RESULT_KINDS,
  runWorkerProcess,
  type ResultKind,
} from '../../gpu-worker';
import type { Command } from '../command';
import { numberOption, requiredString } from '../options';
import { readThreadLayout, THREAD_OPTIONS } from '../thread-options';

function choice<T extends string>(value: unknown, allowed: readonly T[], option: string, fallback?: T): T {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw new InputError(`--${option} must be one of ${allowed.join(', ')}, got ${String(value)}`);
}

function optionalString(values: Record<string, unknown>, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

export const workerCommand: Command = {
  name: 'worker',
  summary: 'serve a bundle (or bootstrap one from a model) from a request queue until SIGTERM',
  usage:
    'apparate worker (--bundle <dir> | --model <dir> --bundle-out <dir> [--bootstrap-samples <n>]) --queue memory|bullmq|sqs [--queue-name <name>] [--redis-url <url>] [--results stdout|redis|table] [--tables-endpoint <url>] [--table-prefix <p>] [--accuracy-constraint <a>] [--metrics-port <n>] [--emf] [--emf-period-ms <ms>] [--execution-provider cpu|cuda] [--inference-threads <n>] [--intra-op-threads <n>]',
  options: {
    bundle: { type: 'string', description: 'bundle directory written by `apparate prepare`' },
    model: {
      type: 'string',
      description: 'bootstrap mode: a model directory without ramps (instead of --bundle)',
    },
    'bootstrap-samples': {
      type: 'string',
      description: `bootstrap mode: served inputs to train ramps on (default 200, at least ${MIN_BOOTSTRAP_SAMPLES})`,
    },
    'bundle-out': {
      type: 'string',
      description: 'bootstrap mode: where to write the bundle (must not exist)',
    },
    queue: { type: 'string', description: 'request queue: memory, bullmq or sqs' },
    'queue-name': { type: 'string', description: 'BullMQ queue name, or SQS queue URL (default requests)' },
    'dead-letter-url': { type: 'string', description: 'SQS only: the dead-letter queue URL' },
    'redis-url': {
      type: 'string',
      description: 'BullMQ: Redis URL (default $REDIS_URL or redis://127.0.0.1:6379)',
    },
    results: {
      type: 'string',
      description:
        'where answers go: stdout (JSON lines), redis (hashes beside the BullMQ queue) or table (default table with --table-prefix, else redis with bullmq, else stdout)',
    },
    'answers-namespace': {
      type: 'string',
      description:
        'BullMQ: also publish each answer on the Redis channel apparate:answers:<namespace>, where API processes wait for them (default: the --table-prefix, as `apparate serve` uses; none: off)',
    },
    'tables-endpoint': { type: 'string', description: 'DynamoDB endpoint, e.g. a local dynalite' },
    'table-prefix': {
      type: 'string',
      description: 'table-name prefix; enables results, exit logs and configs',
    },
    'accuracy-constraint': {
      type: 'string',
      description:
        'minimum agreement with the full model that the local guard holds; give the controller’s constraint (default 0.99)',
    },
    'metrics-port': {
      type: 'string',
      description: 'serve /metrics and /healthz on this port (0: any free one)',
    },
    emf: { type: 'boolean', description: 'write CloudWatch embedded-metric-format lines to stdout' },
    'emf-period-ms': {
      type: 'string',
      description: `how often to write an EMF line (default ${DEFAULT_EMF_PERIOD_MS})`,
    },
    'execution-provider': { type: 'string', description: 'cpu or cuda (default cpu)' },
    ...THREAD_OPTIONS,
    'config-poll-ms': { type: 'string', description: 'how often to look for a newer config (default 5000)' },
  },
  async run(values, _positionals, io) {
    const bundleDir = optionalString(values, 'bundle');
    const modelDir = optionalString(values, 'model');
    if ((bundleDir === undefined) === (modelDir === undefined)) {
      throw new InputError(
        'give exactly one of --bundle <dir> (serve a bundle) or --model <dir> (bootstrap one)',
      );
    }
    const bundleOut = modelDir === undefined ? undefined : requiredString(values, 'bundle-out', 'dir');
    if (
      modelDir === undefined &&
      (values['bundle-out'] !== undefined || values['bootstrap-samples'] !== undefined)
    ) {
      throw new InputError('--bundle-out and --bootstrap-samples go with --model <dir>, not --bundle');
    }
    const bootstrapSamples = numberOption(values, 'bootstrap-samples', {
      default: 200,
      min: MIN_BOOTSTRAP_SAMPLES,
      minInclusive: true,
      integer: true,
    });
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
    const accuracyConstraint = numberOption(values, 'accuracy-constraint', ACCURACY_CONSTRAINT);
    const configPollMs = numberOption(values, 'config-poll-ms', { default: 5000, min: 10, integer: true });
    const layout = readThreadLayout(values);
    const emfPeriodMs = numberOption(values, 'emf-period-ms', {
      default: DEFAULT_EMF_PERIOD_MS,
      min: 1000,
      minInclusive: true,
      integer: true,
    });
    if (values['emf-period-ms'] !== undefined && values.emf !== true) {
      throw new InputError('--emf-period-ms goes with --emf');
    }
    const name = optionalString(values, 'queue-name') ?? 'requests';
    const prefix = optionalString(values, 'table-prefix');
    const endpoint = optionalString(values, 'tables-endpoint');
    if (endpoint !== undefined && prefix === undefined) {
      throw new InputError('--tables-endpoint needs --table-prefix <p>');
    }
    const results = choice<ResultKind>(
      values.results,
      RESULT_KINDS,
      'results',
      prefix !== undefined ? 'table' : kind === 'bullmq' ? 'redis' : 'stdout',
    );
    if (results === 'table' && prefix === undefined)
      throw new InputError('--results table needs --table-prefix <p>');
    if (results === 'redis' && kind !== 'bullmq')
      throw new InputError('--results redis needs --queue bullmq');
    if (kind === 'sqs' && typeof values['dead-letter-url'] !== 'string') {
      throw new InputError('--queue sqs needs --queue-name <queue URL> and --dead-letter-url <URL>');
    }
    const redisUrl = optionalString(values, 'redis-url');
    const namespaceFlag = optionalString(values, 'answers-namespace');
    if (namespaceFlag !== undefined && namespaceFlag !== 'none' && kind !== 'bullmq') {
      throw new InputError('--answers-namespace publishes on Redis and needs --queue bullmq');
    }
    if (namespaceFlag !== undefined && !/^[^:\s]+$/.test(namespaceFlag)) {
      throw new InputError(
        `--answers-namespace must be a name without ':' or spaces, or none; got ${JSON.stringify(namespaceFlag)}`,
      );
    }
    const answersNamespace =
      namespaceFlag === 'none' ? undefined : (namespaceFlag ?? (kind === 'bullmq' ? prefix : undefined));
    const deadLetterUrl = optionalString(values, 'dead-letter-url');
    await runWorkerProcess(
      {
        source:
          modelDir !== undefined && bundleOut !== undefined
            ? { kind: 'bootstrap', modelDir, bundleOut, bootstrapSamples }
            : { kind: 'bundle', bundleDir: bundleDir ?? '' },
        queue: {
          kind,
          name,
          ...(redisUrl === undefined ? {} : { redisUrl }),
          ...(deadLetterUrl === undefined ? {} : { deadLetterUrl }),
        },
        results,
        ...(answersNamespace === undefined ? {} : { answersNamespace }),
        ...(prefix === undefined
          ? {}
          : { tables: { prefix, ...(endpoint === undefined ? {} : { endpoint }) } }),
        accuracyConstraint,
        executionProvider: provider,
        ...layout,
        configPollMs,
        ...(metricsPort === undefined ? {} : { metricsPort }),
        ...(values.emf === true ? { emfPeriodMs } : {}),
      },
      io,
    );
    return 0;
  },
};
