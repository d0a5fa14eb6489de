/**
 * CloudWatch embedded-metric-format (EMF) logs: once per period the worker writes one JSON line
 * that CloudWatch Logs turns into metrics, so the CDK alarms and dashboard can read the worker
 * without an agent scraping `/metrics`. The namespace, the dimension and the metric names come from
 * `core/deployment/cloud-names.ts`, which the CDK app reads too: a rename breaks the build, never an
 * alarm. Counts are per period (differences of the worker's running totals), latencies are the
 * period's medians, gauges their value now; the heartbeat is 1 on every line, so a missing
 * heartbeat means no worker is serving.
 */
import { METRIC_DIMENSION_MODEL, METRIC_NAMESPACE, METRICS } from '../core/deployment/cloud-names';
import { InputError } from '../core/errors';
import { sumOf, valueOf } from '../core/util/prometheus';
import type { WorkerMetrics } from './metrics';

/** CloudWatch's default metric period, and so the default emission period. */
export const DEFAULT_EMF_PERIOD_MS = 60_000;

type MetricName = (typeof METRICS)[keyof typeof METRICS];
type EmfUnit = 'Count' | 'Milliseconds' | 'None';

const UNITS: Readonly<Record<MetricName, EmfUnit>> = {
  [METRICS.heartbeat]: 'Count',
  [METRICS.requestsServed]: 'Count',
  [METRICS.earlyExits]: 'Count',
  [METRICS.windowAgreement]: 'None',
  [METRICS.servedLatencyP50Ms]: 'Milliseconds',
  [METRICS.finalLatencyP50Ms]: 'Milliseconds',
  [METRICS.deadlineExceeded]: 'Count',
  [METRICS.droppedLogItems]: 'Count',
  [METRICS.configVersion]: 'None',
};

export interface EmfEmitterOptions {
  readonly metrics: WorkerMetrics;
  /** The value of the model dimension. */
  readonly model: string;
  /** Written on each line as a plain property (not a dimension, which would split the alarms). */
  readonly workerId?: string;
  /** @default DEFAULT_EMF_PERIOD_MS (60 s) */
  readonly periodMs?: number;
  /** Where lines go; on EC2 the CloudWatch agent (or awslogs) ships stdout. @default process.stdout */
  readonly stream?: NodeJS.WritableStream;
  /** @default Date.now */
  readonly nowMs?: () => number;
}

/** The running totals a period's counts are differences of. */
interface Totals {
  served: number;
  early: number;
  deadlineExceeded: number;
  dropped: number;
}

/** Turns the worker's metrics into one EMF line per period; the CLI's `--emf` starts one. */
export class EmfEmitter {
  readonly periodMs: number;
  private readonly stream: NodeJS.WritableStream;
  private readonly nowMs: () => number;
  private timer: NodeJS.Timeout | undefined;

  /** Pending emissions, in order: each reads the totals the previous one left. */
  private emitting: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly options: EmfEmitterOptions,
    private last: Totals,
  ) {
    this.periodMs = options.periodMs ?? DEFAULT_EMF_PERIOD_MS;
    this.stream = options.stream ?? process.stdout;
    this.nowMs = options.nowMs ?? Date.now;
  }

  /** An emitter whose first period starts now (counts already recorded are not reported). */
  static async create(options: EmfEmitterOptions): Promise<EmfEmitter> {
    const periodMs = options.periodMs ?? DEFAULT_EMF_PERIOD_MS;
    if (!Number.isSafeInteger(periodMs) || periodMs < 1000) {
      throw new InputError(
        `EMF period must be a whole number of milliseconds of at least 1000, got ${periodMs}`,
      );
    }
    return new EmfEmitter(options, await totalsOf(options.metrics));
  }

  /** Emits once per period until `stop`; the timer does not keep the process alive. */
  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.emit(), this.periodMs);
    this.timer.unref();
  }

  /** Stops the timer and emits the last, partial period, so a stopping worker's counts are not lost. */
  async stop(): Promise<void> {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.emit();
  }

  /** Writes one line for the period since the previous one, and returns the object written. */
  emit(): Promise<Record<string, unknown>> {
    const line = this.emitting.then(() => this.emitNow());
    this.emitting = line.catch(() => undefined);
    return line;
  }

  private async emitNow(): Promise<Record<string, unknown>> {
    const { metrics } = this.options;
    const now = await totalsOf(metrics);
    const configVersion = await valueOf(metrics.configVersion);
    const windowAgreement = await valueOf(metrics.windowAgreement);
    const { servedP50Ms, finalP50Ms } = metrics.period.take();
    const values: Partial<Record<MetricName, number>> = {
      [METRICS.heartbeat]: 1,
      [METRICS.requestsServed]: now.served - this.last.served,
      [METRICS.earlyExits]: now.early - this.last.early,
      [METRICS.deadlineExceeded]: now.deadlineExceeded - this.last.deadlineExceeded,
      [METRICS.droppedLogItems]: Math.max(0, now.dropped - this.last.dropped),
      [METRICS.configVersion]: configVersion ?? 0,
    };
    if (windowAgreement !== undefined) values[METRICS.windowAgreement] = windowAgreement;
    if (servedP50Ms !== undefined) values[METRICS.servedLatencyP50Ms] = round3(servedP50Ms);
    if (finalP50Ms !== undefined) values[METRICS.finalLatencyP50Ms] = round3(finalP50Ms);
    this.last = now;
    const names = Object.keys(values) as MetricName[];
    const line = {
      _aws: {
        Timestamp: Math.round(this.nowMs()),
        CloudWatchMetrics: [
          {
            Namespace: METRIC_NAMESPACE,
            Dimensions: [[METRIC_DIMENSION_MODEL]],
            Metrics: names.map((name) => ({ Name: name, Unit: UNITS[name] })),
          },
        ],
      },
      [METRIC_DIMENSION_MODEL]: this.options.model,
      ...(this.options.workerId === undefined ? {} : { workerId: this.options.workerId }),
      ...values,
    };
    this.stream.write(`${JSON.stringify(line)}\n`);
    return line;
  }
}

/** The worker's running totals now. */
async function totalsOf(metrics: WorkerMetrics): Promise<Totals> {
  return {
    served: (await valueOf(metrics.requests, { outcome: 'served' })) ?? 0,
    early: await sumOf(metrics.exits, (labels) => labels['exit'] !== 'final'),
    deadlineExceeded: (await valueOf(metrics.requests, { outcome: 'deadline_exceeded' })) ?? 0,
    dropped: (await valueOf(metrics.droppedLogItems)) ?? 0,
  };
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
