/**
 * `npm run bench -- api [--json] [--seconds 10] [--models spam-bert,mnist-resnet]
 * [--transports memory,bullmq] [--fractions 0.1,0.5,0.8,1] [--concurrency 8 --runs 3]`: the serving
 * path as a client sees it.
 * For each fixture model it measures the worker's own capacity (plain model, in-process queue,
 * callback sink: nothing around the model), then starts the local stack (`npm start`'s code, tables
 * in memory) on the in-process queue, and on BullMQ when Redis answers, and offers open-loop load
 * from a separate process at fractions of that capacity. Per rate it reports offered and served
 * req/s, status counts, client p50/p95/p99, the worker's own p50 (enqueue to release, from each
 * answer) and the API overhead p50 (client latency minus worker time, per request), and where the
 * cores went: CPU time per answered request of the stack's main thread, its other threads (the
 * model, mostly) and the load generator, with the rate the cores could serve at that cost.
 */
import { fork } from 'node:child_process';
import { connect } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sampleAt } from '../core/data/dataset';
import { DEFAULT_PREPARE } from '../core/prepare/prepare-model';
import { quantile } from '../core/util/stats';
import { loadFixtureModel, loadModelData } from '../core/zoo/fixtures';
import { readBundle } from '../core/bundle/bundle-io';
import { CACHE_DIR, ensureFixtureBundles, FIXTURE_MODELS, startLocalStack } from '../cli/stack';
import { silentLogger } from '../gpu-worker';
import { cpuSnapshot, cpuSpent, type CpuSpent } from './api/cpu-meter';
import type { ClientSample, LoadPlan, LoadResult } from './api/load-generator';
import { measureCapacity } from './eval/capacity';
import type { RequestInput } from './eval/workload';
import type { Benchmark } from './run';
import { describeLayout, threadLayoutArgs } from './thread-layout-args';

/** One model, transport and rate, as `--json` prints it. */
export interface ApiRateRecord {
  readonly model: string;
  readonly transport: 'memory' | 'bullmq';
  readonly offeredRps: number;
  readonly servedRps: number;
  readonly codes: Record<string, number>;
  readonly latencyMs: { readonly p50: number; readonly p95: number; readonly p99: number };
  readonly workerMsP50: number;
  readonly workerMsP95: number;
  readonly overheadMsP50: number;
  /** Offered load as a fraction of the worker's capacity; 0 in a closed-loop run. */
  readonly fraction: number;
  /** Requests kept in flight in a closed-loop run (`--concurrency`); absent in open loop. */
  readonly concurrency?: number;
  readonly capacityRps: number;
  /**
   * CPU time per answered request, ms: the stack's process (`stack`), split into its main thread
   * (HTTP, handlers, queue, table, the workers' batching) and its other threads (inference, mostly),
   * and the load generator's process (`client`). Undefined parts where the OS does not say.
   */
  readonly cpuMsPerRequest: {
    readonly stack: number;
    readonly mainThread: number | undefined;
    readonly otherThreads: number | undefined;
    readonly client: number;
  };
  /**
   * The rate the machine's cores could serve if they did nothing but this: cores × 1000 / (stack +
   * client CPU per request). When it is near the served rate, the cores, not the model, are the limit.
   */
  readonly cpuBoundRps: number;
  /** The machine's 1-minute load average when the rate ended (other work shares the cores). */
  readonly loadAverage: number;
}

const DEADLINE_MS = 5000;
const DISTINCT_INPUTS = 200;

/** Whether something listens on Redis's address, within a second. */
function redisReachable(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port || 6379) });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Runs the load generator in its own process for one plan. */
function runLoad(plan: LoadPlan): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = fork(join(__dirname, 'api', 'load-generator.ts'), [], {
      execArgv: ['--require', 'tsx/cjs'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: LoadResult | undefined;
    child.once('message', (message) => {
      result = message as LoadResult;
    });
    child.once('error', reject);
    child.once('exit', (code) =>
      result !== undefined ? resolve(result) : reject(new Error(`load generator exited with ${code}`)),
    );
    child.send(plan);
  });
}

/** The figures of one rate from the client's samples. */
export function summariseLoad(
  samples: readonly ClientSample[],
  wallSeconds: number,
  offeredSeconds: number,
): Pick<
  ApiRateRecord,
  'servedRps' | 'codes' | 'latencyMs' | 'workerMsP50' | 'workerMsP95' | 'overheadMsP50'
> {
  const codes: Record<string, number> = {};
  for (const sample of samples) codes[String(sample.status)] = (codes[String(sample.status)] ?? 0) + 1;
  const answered = samples.filter((s) => s.status === 200 && s.workerMs !== undefined);
  const latencies = samples.filter((s) => s.status === 200).map((s) => s.latencyMs);
  const worker = answered.map((s) => s.workerMs as number);
  const overhead = answered.map((s) => s.latencyMs - (s.workerMs as number));
  const round = (value: number): number => Math.round(value * 100) / 100;
  return {
    servedRps: round(latencies.length / Math.max(offeredSeconds, wallSeconds)),
    codes,
    latencyMs: {
      p50: round(quantile(latencies, 0.5)),
      p95: round(quantile(latencies, 0.95)),
      p99: round(quantile(latencies, 0.99)),
    },
    workerMsP50: round(quantile(worker, 0.5)),
    workerMsP95: round(quantile(worker, 0.95)),
    overheadMsP50: round(quantile(overhead, 0.5)),
  };
}

/** CPU per answered request and the cores' ceiling, from what the stack and the client spent. */
export function cpuPerRequest(
  spent: CpuSpent,
  clientCpuMs: number,
  answered: number,
  cores: number,
): Pick<ApiRateRecord, 'cpuMsPerRequest' | 'cpuBoundRps'> {
  const per = (ms: number): number => Math.round((ms / Math.max(1, answered)) * 1000) / 1000;
  const stack = per(spent.processMs);
  const client = per(clientCpuMs);
  return {
    cpuMsPerRequest: {
      stack,
      mainThread: spent.mainThreadMs === undefined ? undefined : per(spent.mainThreadMs),
      otherThreads: spent.otherThreadsMs === undefined ? undefined : per(spent.otherThreadsMs),
      client,
    },
    cpuBoundRps: stack + client > 0 ? Math.round((cores * 1000) / (stack + client)) : 0,
  };
}

function table(records: readonly ApiRateRecord[]): string {
  const head = [
    'model',
    'transport',
    'load',
    'offered/s',
    'served/s',
    'codes',
    'p50 ms',
    'p95 ms',
    'p99 ms',
    'worker p50',
    'overhead p50',
    'CPU ms/req main+other+client',
    'CPU-bound/s',
    'load',
  ];
  const rows = records.map((r) => [
    r.model,
    r.transport,
    r.concurrency === undefined ? r.fraction.toFixed(1) : `${r.concurrency} in flight`,
    r.offeredRps.toFixed(1),
    r.servedRps.toFixed(1),
    Object.entries(r.codes)
      .map(([code, n]) => `${n}×${code}`)
      .join(' '),
    r.latencyMs.p50.toFixed(1),
    r.latencyMs.p95.toFixed(1),
    r.latencyMs.p99.toFixed(1),
    r.workerMsP50.toFixed(1),
    r.overheadMsP50.toFixed(2),
    [r.cpuMsPerRequest.mainThread, r.cpuMsPerRequest.otherThreads, r.cpuMsPerRequest.client]
      .map((ms) => (ms === undefined ? '?' : ms.toFixed(2)))
      .join('+'),
    String(r.cpuBoundRps),
    r.loadAverage.toFixed(1),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (i < 3 ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number)))
      .join('  ');
  return [line(head), ...rows.map(line)].join('\n');
}

export const apiBenchmark: Benchmark = {
  name: 'api',
  summary: 'the local stack end to end: open-loop load at fractions of the worker capacity, API overhead',
  usage:
    'usage: npm run bench -- api [--models a,b] [--transports memory,bullmq] [--fractions 0.1,0.5,0.8,1] [--seconds 10] [--capacity-seconds 5] [--concurrency N --runs 3] [--redis-url url] [--inference-threads N] [--intra-op-threads M] [--exit-taps on|off] [--json]',
  async run(args) {
    const { values } = parseArgs({
      args: [...args],
      options: {
        json: { type: 'boolean' },
        seconds: { type: 'string' },
        'capacity-seconds': { type: 'string' },
        models: { type: 'string' },
        transports: { type: 'string' },
        fractions: { type: 'string' },
        'redis-url': { type: 'string' },
        concurrency: { type: 'string' },
        runs: { type: 'string' },
        'inference-threads': { type: 'string' },
        'intra-op-threads': { type: 'string' },
        'exit-taps': { type: 'string' },
      },
    });
    // Off serves the same bundles with the model cut at their ramps: taps against cuts, one sitting.
    const exitTapsArg = values['exit-taps'] ?? 'on';
    if (exitTapsArg !== 'on' && exitTapsArg !== 'off')
      throw new Error(`--exit-taps takes on or off, got ${exitTapsArg}`);
    const exitTaps = exitTapsArg === 'on';
    const layout = threadLayoutArgs(args);
    const list = (text: string | undefined, fallback: readonly string[]): string[] =>
      text === undefined
        ? [...fallback]
        : text
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s !== '');
    const seconds = Number(values.seconds ?? 10);
    const capacitySeconds = Number(values['capacity-seconds'] ?? 5);
    const fractions = list(values.fractions, ['0.1', '0.5', '0.8', '1']).map(Number);
    // Closed loop (`--concurrency N`, `--runs R`): R runs with N requests in flight, instead of the
    // fractions of capacity; for comparing CPU per request at alike batch sizes.
    const concurrency = values.concurrency === undefined ? undefined : Number(values.concurrency);
    const runs = Number(values.runs ?? 3);
    if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency > 0)) {
      throw new Error(`--concurrency must be a whole number of requests above 0, got ${values.concurrency}`);
    }
    if (!(Number.isInteger(runs) && runs > 0)) {
      throw new Error(`--runs must be a whole number above 0, got ${values.runs}`);
    }
    const models = list(values.models, FIXTURE_MODELS);
    const redisUrl = values['redis-url'] ?? process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
    const wanted = list(values.transports, ['memory', 'bullmq']);
    if (![seconds, capacitySeconds, ...fractions].every((n) => Number.isFinite(n) && n > 0)) {
      throw new Error('--seconds, --capacity-seconds and --fractions must be positive numbers');
    }
    const log = (line: string): void => {
      process.stderr.write(`${line}\n`);
    };
    const transports: ('memory' | 'bullmq')[] = [];
    if (wanted.includes('memory')) transports.push('memory');
    if (wanted.includes('bullmq')) {
      if (await redisReachable(redisUrl)) transports.push('bullmq');
      else log(`api: Redis does not answer at ${redisUrl}; BullMQ is skipped`);
    }

    const bundles = await ensureFixtureBundles({
      cacheDir: join(CACHE_DIR, 'bundles'),
      models,
      repeats: 15,
      rampBudget: 0.02,
      progress: { update: () => undefined, stop: () => undefined },
    });
    const inputs = new Map<string, RequestInput[]>();
    const capacity = new Map<string, number>();
    for (const { model, dir } of bundles) {
      const fixture = await loadFixtureModel(model);
      const serving = await loadModelData(fixture, 'serving');
      const first = Math.floor(serving.count * DEFAULT_PREPARE.bootstrapFraction);
      const chosen = Array.from({ length: DISTINCT_INPUTS }, (_, i) => {
        const sample = sampleAt(serving, first + (i % (serving.count - first)));
        return sample.kind === 'image' ? Array.from(sample.pixels) : sample.text;
      });
      inputs.set(model, chosen);
      const largest = Math.max(...(await readBundle(dir)).manifest.profile.batchSizes);
      const measured = await measureCapacity(dir, model, chosen, largest, capacitySeconds, layout);
      capacity.set(model, measured.rps);
      log(`api: ${model}: the worker alone serves ${measured.rps.toFixed(1)} req/s (batch ${largest})`);
    }

    const records: ApiRateRecord[] = [];
    for (const transport of transports) {
      const stack = await startLocalStack({
        host: '127.0.0.1',
        port: 0,
        dataDir: join(tmpdir(), `apparate-bench-api-${process.pid}`),
        inMemory: true,
        bundleCacheDir: join(CACHE_DIR, 'bundles'),
        bundles,
        models,
        ...(transport === 'bullmq' ? { redisUrl } : {}),
        namePrefix: `apparate-bench-api-${process.pid}`,
        controllerPeriodMs: 3_600_000,
        configPollMs: 1000,
        accuracyConstraint: 0.99,
        rampBudget: 0.02,
        prepareRepeats: 1,
        progress: { update: () => undefined, stop: () => undefined },
        logger: silentLogger,
        threadLayout: layout,
        exitTaps,
      });
      try {
        for (const model of models) {
          const rps = capacity.get(model) as number;
          const base = { url: stack.url, model, deadlineMs: DEADLINE_MS, inputs: inputs.get(model) ?? [] };
          // Warm the path (JIT, connections, sessions) at a low rate; not recorded.
          await runLoad({ ...base, offeredRps: Math.max(1, 0.2 * rps), seconds: 2 });
          const plans: readonly { fraction: number; offeredRps: number; concurrency?: number }[] =
            concurrency === undefined
              ? fractions.map((fraction) => ({ fraction, offeredRps: Math.round(fraction * rps * 10) / 10 }))
              : Array.from({ length: runs }, () => ({ fraction: 0, offeredRps: 0, concurrency }));
          for (const { fraction, offeredRps, concurrency: inFlight } of plans) {
            const closed = inFlight === undefined ? {} : { concurrency: inFlight };
            const before = cpuSnapshot();
            const result = await runLoad({
              ...base,
              offeredRps: Math.max(offeredRps, 1),
              seconds,
              ...closed,
            });
            const spent = cpuSpent(before, cpuSnapshot());
            const answered = result.samples.filter((sample) => sample.status === 200).length;
            const record: ApiRateRecord = {
              model,
              transport,
              offeredRps,
              ...summariseLoad(result.samples, result.wallSeconds, seconds),
              fraction,
              ...closed,
              capacityRps: Math.round(rps * 10) / 10,
              ...cpuPerRequest(spent, result.clientCpuMs, answered, cpus().length),
              loadAverage: Math.round((loadavg()[0] ?? 0) * 10) / 10,
            };
            records.push(record);
            log(
              `api: ${model} ${transport} ${inFlight === undefined ? fraction : `${inFlight} in flight`}: served ${record.servedRps}/s, p50 ${record.latencyMs.p50} ms, ` +
                `overhead p50 ${record.overheadMsP50} ms, stack CPU ${record.cpuMsPerRequest.stack} ms/request ` +
                `(main thread ${record.cpuMsPerRequest.mainThread ?? '?'}), client ${record.cpuMsPerRequest.client}`,
            );
          }
        }
      } finally {
        await stack.close();
      }
    }

    if (values.json === true) {
      for (const record of records) process.stdout.write(`${JSON.stringify(record)}\n`);
    } else {
      process.stdout.write(`\n${table(records)}\n`);
    }
    return {
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', note: 'shared machine' },
      seconds,
      deadlineMs: DEADLINE_MS,
      threads: describeLayout(layout),
      exitTaps,
      records,
    };
  },
};
