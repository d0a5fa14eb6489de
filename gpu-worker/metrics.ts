/**
 * The worker's metrics, kept in a prom-client registry of their own (one per worker, so several
 * workers in one process, as in the local stack, never collide) and served in Prometheus' text
 * format at `/metrics`. Updating one is a map lookup and an add, cheap enough for the per-request
 * path; rendering happens only when `/metrics` is scraped or the EMF emitter reads its totals.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { metricsIn, scrape } from '../core/util/prometheus';

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

/** Every metric the worker keeps, by name, in one registry; each name starts `apparate_worker_`. */
export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly declare = metricsIn(this.registry, 'apparate_worker_');
  readonly requests = this.declare.counter('requests_total', 'Requests by outcome', ['outcome']);
  readonly exits = this.declare.counter('exits_total', 'Answers by exit point (ramp id or final)', ['exit']);
  readonly earlyLatencyMs = this.latency('early_release_ms', 'Enqueue to early release, ms');
  readonly finalLatencyMs = this.latency('final_ms', 'Enqueue to final answer, ms');
  readonly queueWaitMs = this.latency('queue_wait_ms', 'Enqueue to the start of the request’s batch, ms');
  readonly batchSize = this.declare.histogram('batch_size', 'Real requests per batch', BATCH_BUCKETS);
  readonly windowAgreement = this.declare.gauge(
    'window_agreement',
    'Agreement of released answers with the final model over the local window',
  );
  readonly configVersion = this.declare.gauge('config_version', 'Config version serving');
  readonly droppedLogItems = this.declare.gauge(
    'exit_log_dropped_total',
    'Exit-log batches dropped because the writer was full',
  );
  readonly guardLowered = this.declare.counter(
    'guard_lowered_total',
    'Times the local guard lowered thresholds',
  );
  /** Not exposed to Prometheus; read by the CloudWatch emitter once per period. */
  readonly period = new PeriodLatencies();

  constructor() {
    // No agreement is known before the first window has been judged: the sample stays absent
    // (rather than a misleading 0) until the worker sets it.
    this.windowAgreement.remove();
  }

  /** The exposition text of every metric. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** A histogram of the time from enqueue to some point of a request's life, ms. */
  private latency(name: string, help: string) {
    return this.declare.histogram(name, help, LATENCY_BUCKETS_MS);
  }
}

/**
 * Serves `/metrics` (Prometheus text) and `/healthz` (200 while `healthy()` holds, else 503) on
 * `port` (0 picks a free one). Resolves with the server and the port it listens on.
 */
export async function startMetricsServer(
  port: number,
  metrics: { readonly registry: Registry },
  healthy: () => boolean,
  host = '0.0.0.0',
): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const server = createServer((request, response) => {
    if (request.url === '/metrics') {
      void scrape(metrics.registry).then(({ statusCode, contentType, body }) =>
        response.writeHead(statusCode, { 'content-type': contentType }).end(body),
      );
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
