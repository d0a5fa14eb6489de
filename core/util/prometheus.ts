/**
 * Reading and serving prom-client metrics. Each process (a worker, the API server, the generation
 * server) keeps its metrics in a registry of its own; these helpers read running totals back from
 * a metric (the CloudWatch emitter takes its period counts from them) and turn a registry into a
 * scrape response.
 */
import { Counter, Gauge, Histogram, type Metric, type Registry } from 'prom-client';
import { messageOf } from './json-lines-logger';

/**
 * Declares metrics in one registry, one line each: name, help, then buckets or label names. Every
 * name gets `prefix` (the process's namespace, `apparate_worker_`), and every metric carries the
 * `shared` labels before its own (the generation server labels everything by `model`), so a
 * declaration states only what is its own.
 */
export function metricsIn<S extends string = never>(
  registry: Registry,
  prefix = '',
  shared: readonly S[] = [],
) {
  const registers = [registry];
  const labels = <T extends string>(own: readonly T[]): (S | T)[] => [...shared, ...own];
  return {
    counter: <T extends string = never>(name: string, help: string, own: readonly T[] = []) =>
      new Counter<S | T>({ name: prefix + name, help, labelNames: labels(own), registers }),
    gauge: <T extends string = never>(name: string, help: string, own: readonly T[] = []) =>
      new Gauge<S | T>({ name: prefix + name, help, labelNames: labels(own), registers }),
    histogram: <T extends string = never>(
      name: string,
      help: string,
      buckets: number[],
      own: readonly T[] = [],
    ) => new Histogram<S | T>({ name: prefix + name, help, buckets, labelNames: labels(own), registers }),
  };
}

/** The sum of a metric's values whose labels `keep` accepts (all of them by default). */
export async function sumOf(
  metric: Metric,
  keep: (labels: Readonly<Record<string, string | number | undefined>>) => boolean = () => true,
): Promise<number> {
  const { values } = await metric.get();
  return values.reduce((total, { value, labels }) => (keep(labels) ? total + value : total), 0);
}

/** A metric's value under exactly these labels, or undefined when none was ever recorded. */
export async function valueOf(
  metric: Metric,
  labels: Readonly<Record<string, string>> = {},
): Promise<number | undefined> {
  const wanted = Object.entries(labels);
  const { values } = await metric.get();
  const found = values.find(
    (entry) =>
      Object.keys(entry.labels).length === wanted.length &&
      wanted.every(([name, value]) => entry.labels[name] === value),
  );
  return found?.value;
}

/** A scrape's answer: the registry's exposition text, or a 500 saying why it could not be collected. */
export async function scrape(
  registry: Registry,
): Promise<{ statusCode: number; contentType: string; body: string }> {
  try {
    return { statusCode: 200, contentType: registry.contentType, body: await registry.metrics() };
  } catch (error) {
    return {
      statusCode: 500,
      contentType: 'text/plain; charset=utf-8',
      body: `metrics could not be collected: ${messageOf(error)}\n`,
    };
  }
}
