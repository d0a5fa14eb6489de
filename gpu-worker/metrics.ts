/**
 * The worker's metrics in Prometheus' text format, kept in plain objects (no dependency): counters
 * and gauges with labels, and histograms with fixed buckets. Updating one is a map lookup and an
 * add, cheap enough for the per-request path; rendering happens only when `/metrics` is scraped.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

type Labels = Readonly<Record<string, string>>;

function labelKey(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  return `{${entries.map(([name, value]) => `${name}=${JSON.stringify(value)}`).join(',')}}`;
}

function withLabel(key: string, name: string, value: string): string {
  const pair = `${name}=${JSON.stringify(value)}`;
  return key === '' ? `{${pair}}` : `${key.slice(0, -1)},${pair}}`;
}

interface Metric {
  render(): string;
}

/** A value that only grows (or a gauge, which may be set to anything). */
export class Counter implements Metric {
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly type: 'counter' | 'gauge' = 'counter',
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = labelKey(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }

  set(value: number, labels: Labels = {}): void {
    this.values.set(labelKey(labels), value);
  }

  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }

  /** Whether a value was ever recorded under these labels (a gauge never set reads 0 otherwise). */
  has(labels: Labels = {}): boolean {
    return this.values.has(labelKey(labels));
  }

  /** The sum over every label set `keep` accepts (given the rendered label key, e.g. `{exit="c1"}`). */
  sum(keep: (key: string) => boolean = () => true): number {
    let total = 0;
    for (const [key, value] of this.values) if (keep(key)) total += value;
    return total;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
    for (const [key, value] of this.values) lines.push(`${this.name}${key} ${value}`);
    return lines.join('\n');
  }
}

/** Observations counted into cumulative buckets, Prometheus-style. */
export class Histogram implements Metric {
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly buckets: readonly number[],
  ) {}

  observe(value: number, labels: Labels = {}): void {
    const key = labelKey(labels);
    let entry = this.series.get(key);
    if (entry === undefined) {
      entry = { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, entry);
    }
    for (let i = 0; i < this.buckets.length; i++) {
      if (value <= (this.buckets[i] as number)) entry.counts[i] = (entry.counts[i] as number) + 1;
    }
    entry.sum += value;
    entry.count += 1;
  }

  count(labels: Labels = {}): number {
    return this.series.get(labelKey(labels))?.count ?? 0;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [key, entry] of this.series) {
      this.buckets.forEach((bound, i) =>
        lines.push(`${this.name}_bucket${withLabel(key, 'le', String(bound))} ${entry.counts[i]}`),
      );
      lines.push(`${this.name}_bucket${withLabel(key, 'le', '+Inf')} ${entry.count}`);
      lines.push(`${this.name}_sum${key} ${entry.sum}`);
      lines.push(`${this.name}_count${key} ${entry.count}`);
    }
    return lines.join('\n');
  }
}

/**
 * The latencies of the current reporting period, for the medians the CloudWatch emitter reports
 * (histogram buckets are too coarse for a median). Memory is bounded: past `capacity` values a
 * period keeps a uniform sample (reservoir sampling), so a worker without an emitter, which never
 * takes its periods, holds at most `capacity` numbers per series.
 */
export class PeriodLatencies {
  private served: number[] = [];
  private final: number[] = [];
  private seen = 0;
  constructor(private readonly capacity = 4096) {}

  /** One answered request: ms to the answer it was released with (early or final), ms to final. */
  observe(servedMs: number, finalMs: number): void {
    this.seen += 1;
    if (this.served.length < this.capacity) {
      this.served.push(servedMs);
      this.final.push(finalMs);
      return;
    }
    const slot = Math.floor(Math.random() * this.seen);
    if (slot < this.capacity) {
      this.served[slot] = servedMs;
      this.final[slot] = finalMs;
    }
  }

  /** The period's medians (undefined when nothing was answered), starting a new period. */
  take(): { servedP50Ms: number | undefined; finalP50Ms: number | undefined } {
    const result = { servedP50Ms: median(this.served), finalP50Ms: median(this.final) };
    this.served = [];
    this.final = [];
    this.seen = 0;
    return result;
  }
}

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? sorted[middle]
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

const LATENCY_BUCKETS_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64];

/** Every metric the worker keeps, by name. */
export class WorkerMetrics {
  readonly requests = new Counter('apparate_worker_requests_total', 'Requests by outcome');
  readonly exits = new Counter('apparate_worker_exits_total', 'Answers by exit point (ramp id or final)');
  readonly earlyLatencyMs = new Histogram(
    'apparate_worker_early_release_ms',
    'Enqueue to early release, ms',
    LATENCY_BUCKETS_MS,
  );
  readonly finalLatencyMs = new Histogram(
    'apparate_worker_final_ms',
    'Enqueue to final answer, ms',
    LATENCY_BUCKETS_MS,
  );
  readonly queueWaitMs = new Histogram(
    'apparate_worker_queue_wait_ms',
    'Enqueue to the start of the request’s batch, ms',
    LATENCY_BUCKETS_MS,
  );
  readonly batchSize = new Histogram('apparate_worker_batch_size', 'Real requests per batch', BATCH_BUCKETS);
  readonly windowAgreement = new Counter(
    'apparate_worker_window_agreement',
    'Agreement of released answers with the final model over the local window',
    'gauge',
  );
  readonly configVersion = new Counter('apparate_worker_config_version', 'Config version serving', 'gauge');
  readonly droppedLogItems = new Counter(
    'apparate_worker_exit_log_dropped_total',
    'Exit-log batches dropped because the writer was full',
    'gauge',
  );
  readonly guardLowered = new Counter(
    'apparate_worker_guard_lowered_total',
    'Times the local guard lowered thresholds',
  );
  /** Not exposed to Prometheus; read by the CloudWatch emitter once per period. */
  readonly period = new PeriodLatencies();

  /** The exposition text of every metric. */
  render(): string {
    return `${[
      this.requests,
      this.exits,
      this.earlyLatencyMs,
      this.finalLatencyMs,
      this.queueWaitMs,
      this.batchSize,
      this.windowAgreement,
      this.configVersion,
      this.droppedLogItems,
      this.guardLowered,
    ]
      .map((metric) => metric.render())
      .join('\n')}\n`;
  }
}

/**
 * Serves `/metrics` (Prometheus text) and `/healthz` (200 while `healthy()` holds, else 503) on
 * `port` (0 picks a free one). Resolves with the server and the port it listens on.
 */
export async function startMetricsServer(
  port: number,
  metrics: WorkerMetrics,
  healthy: () => boolean,
  host = '0.0.0.0',
): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const server = createServer((request, response) => {
    if (request.url === '/metrics') {
      response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metrics.render());
    } else if (request.url === '/healthz') {
      const ok = healthy();
      response.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'stopping\n');
    } else {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /healthz\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    server,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
