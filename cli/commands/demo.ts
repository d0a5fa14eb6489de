/**
 * `apparate demo` (`npm run demo`): replays each fixture model's serving stream against the local
 * stack with Twitter-trace arrivals for about a minute in all, then prints plain-versus-Apparate
 * latencies and agreement computed from the answers the stack really gave. It uses a stack already
 * running at `--url`, or starts one (tables in memory) for the length of the demo.
 */
import { loadFixtureModel, loadModelData } from '../../core/zoo/fixtures';
import { DEFAULT_PREPARE } from '../../core/prepare/prepare-model';
import type { Command } from '../command';
import { numberOption } from '../options';
import { createProgress } from '../progress';
import { demoArrivals } from '../stack/demo-arrivals';
import { formatDemoSummary, summariseDemo, type DemoRecord, type DemoSummary } from '../stack/demo-report';
import { replayAgainstStack } from '../stack/demo-replay';
import { startLocalStack, type LocalStack } from '../stack/local-stack';
import { readStackOptions, STACK_OPTIONS } from '../stack/stack-options';
import { runFleetDemo } from '../stack/fleet-demo';
import { fleetDemoPlot, formatFleetDemo } from '../stack/fleet-demo-report';
import { locateTrace, traceSearchDirs } from '../../core/workload/trace-location';
import { readTrace } from '../../core/workload/trace';
import { SYNTHETIC_TRACE_NAME, syntheticTrace } from '../../core/workload/synthetic-trace';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** The served config's version and ramps, or undefined when the stack does not answer. */
async function servedConfig(
  url: string,
  model: string,
): Promise<{ version?: number; ramps?: unknown[] } | undefined> {
  try {
    const response = await fetch(`${url}/v1/models/${model}/config`, { signal: AbortSignal.timeout(1500) });
    if (response.status !== 200) return undefined;
    return (await response.json()) as { version?: number; ramps?: unknown[] };
  } catch {
    return undefined;
  }
}

/**
 * Waits until the controller has published a config newer than `before` (the warm-up's logs are
 * what it tunes on), up to `timeoutMs`; returns the version serving then.
 */
async function waitForNewConfig(
  url: string,
  model: string,
  before: number,
  timeoutMs: number,
): Promise<number> {
  const giveUpAt = Date.now() + timeoutMs;
  for (;;) {
    const version = (await servedConfig(url, model))?.version ?? before;
    if (version > before || Date.now() >= giveUpAt) return version;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * How to read a model's demo requests back from the exit logs: the measured phase by its time
 * range (same agreement as printed above), and everything the demo sent, warm-up included, which
 * is what `--since` over the demo's minutes returns.
 */
function demoLogCheck(model: string, fromMs: number, toMs: number, all: DemoSummary): string {
  const iso = (ms: number): string => new Date(ms).toISOString();
  return [
    `  npx apparate logs --model ${model} --from ${iso(fromMs)} --to ${iso(toMs + 1000)}`,
    `    (the measured requests above; with --since, warm-up included: ${all.requests} requests, agreement ${(100 * all.agreement).toFixed(2)}%)`,
    '',
  ].join('\n');
}

/** Whether a stack answers at `url`, and which models it serves. */
async function probe(url: string): Promise<string[] | undefined> {
  try {
    const response = await fetch(`${url}/v1/models`, { signal: AbortSignal.timeout(1500) });
    if (response.status !== 200) return undefined;
    const body = (await response.json()) as { models?: { model?: string; name?: string }[] };
    return (body.models ?? []).map((m) => m.model ?? m.name ?? '').filter((m) => m !== '');
  } catch {
    return undefined;
  }
}

/**
 * The counts the fleet demo replays: the file given, else the shared Twitter trace, else (a clean
 * clone, where the shared folder is absent) the synthetic day, saying so on stderr.
 */
async function fleetDemoTrace(
  given: string | undefined,
  startDay: number,
  io: { stderr: { write(text: string): unknown } },
): Promise<{ counts: Uint32Array; name: string }> {
  if (given !== undefined) return { counts: await readTrace(given), name: `the trace ${given}` };
  const twitter = locateTrace();
  if (twitter !== undefined) return { counts: await readTrace(twitter), name: 'the Twitter trace' };
  io.stderr.write(
    `apparate: the Twitter trace is not in ${traceSearchDirs().join(', ')}; replaying ${SYNTHETIC_TRACE_NAME} instead (give --trace <file> for another)\n`,
  );
  return { counts: syntheticTrace({ days: startDay + 1 }), name: SYNTHETIC_TRACE_NAME };
}

export const demoCommand: Command = {
  name: 'demo',
  summary: 'replay the fixture streams with trace arrivals against the local stack and report',
  usage:
    'apparate demo [--url http://127.0.0.1:3000] [--seconds 30] [--rate 40] [--models mnist-resnet,spam-bert] [--json] [serve options, used when it starts a stack]\n' +
    '       apparate demo --fleet [--trace <file>] [--start-day 15] [--hours 24] [--interval-seconds 5] [--peak-rps 60] [--peak-workers 128] [--max-workers 12] [--plot <file.svg>] [--json]',
  options: {
    ...STACK_OPTIONS,
    url: {
      type: 'string',
      description: 'a running stack (default http://127.0.0.1:3000; started if absent)',
    },
    seconds: { type: 'string', description: 'seconds of measured traffic per model (default 30)' },
    'warmup-seconds': {
      type: 'string',
      description: 'seconds of traffic per model first, for the controller to tune on (default 10; 0 skips)',
    },
    rate: { type: 'string', description: 'mean requests per second (default 40)' },
    'deadline-ms': { type: 'string', description: 'deadline sent with each request (default 10000)' },
    seed: { type: 'string', description: 'seed for the arrival times (default 7)' },
    json: { type: 'boolean', description: 'print the summaries as JSON' },
    fleet: {
      type: 'boolean',
      description:
        'replay a compressed day of the Twitter trace against a local pool serving the digits task, following fleet plans',
    },
    trace: {
      type: 'string',
      description:
        '--fleet: a trace file (default: the Twitter trace under shared/data/traces, else a synthetic day)',
    },
    hours: { type: 'string', description: '--fleet: trace hours replayed from the day start (default 24)' },
    'start-day': { type: 'string', description: '--fleet: the trace day replayed (default 15)' },
    'interval-seconds': { type: 'string', description: '--fleet: wall seconds per trace hour (default 5)' },
    'peak-rps': {
      type: 'string',
      description: "--fleet: requests per second sent at the day's busiest moment (default 60)",
    },
    'peak-workers': {
      type: 'string',
      description:
        "--fleet: workers of the most accurate variant the day's peak needs, in profile units (default 128)",
    },
    'max-workers': { type: 'string', description: '--fleet: the worker budget (default 12)' },
    plot: { type: 'string', description: '--fleet: write the workers-over-time plot (SVG) here' },
  },
  async run(values, _positionals, io) {
    if (values.fleet === true) {
      const progress = createProgress(io);
      const startDay = numberOption(values, 'start-day', {
        default: 15,
        min: 1,
        minInclusive: true,
        max: 60,
        integer: true,
      });
      const trace = await fleetDemoTrace(
        typeof values.trace === 'string' ? values.trace : undefined,
        startDay,
        io,
      );
      const report = await runFleetDemo({
        stack: readStackOptions(values, progress),
        trace,
        startDay,
        hours: numberOption(values, 'hours', {
          default: 24,
          min: 1,
          minInclusive: true,
          max: 24,
          integer: true,
        }),
        intervalSeconds: numberOption(values, 'interval-seconds', {
          default: 5,
          min: 1,
          minInclusive: true,
          max: 600,
          integer: true,
        }),
        peakRps: numberOption(values, 'peak-rps', { default: 60, min: 1, minInclusive: true, max: 5000 }),
        peakWorkers: numberOption(values, 'peak-workers', {
          default: 128,
          min: 1,
          minInclusive: true,
          max: 1000,
        }),
        maxWorkers: numberOption(values, 'max-workers', {
          default: 12,
          min: 1,
          minInclusive: true,
          max: 64,
          integer: true,
        }),
        deadlineMs: 5000,
        onInterval: (row) =>
          io.stderr.write(
            `apparate: hour ${row.hour}: ${row.sent} requests, plan v${row.planVersion}${row.decision === 'kept' ? ' (kept)' : ''}: ${Object.entries(
              row.plan,
            )
              .filter(([, p]) => p.workers > 0)
              .map(([v, p]) => `${p.workers}× ${v}`)
              .join(', ')}\n`,
          ),
      });
      progress.stop();
      if (typeof values.plot === 'string') {
        mkdirSync(dirname(values.plot), { recursive: true });
        writeFileSync(values.plot, fleetDemoPlot(report));
      }
      io.stdout.write(
        values.json === true ? `${JSON.stringify(report, null, 2)}\n` : formatFleetDemo(report),
      );
      return report.failed === 0 ? 0 : 1;
    }
    const seconds = numberOption(values, 'seconds', {
      default: 30,
      min: 1,
      minInclusive: true,
      max: 3600,
      integer: true,
    });
    const warmupSeconds = numberOption(values, 'warmup-seconds', {
      default: 10,
      min: 0,
      minInclusive: true,
      max: 3600,
      integer: true,
    });
    const rate = numberOption(values, 'rate', { default: 40, min: 0, max: 10_000 });
    const deadlineMs = numberOption(values, 'deadline-ms', {
      default: 10_000,
      min: 1,
      minInclusive: true,
      max: 60_000,
      integer: true,
    });
    const seed = numberOption(values, 'seed', { default: 7, min: 0, minInclusive: true, integer: true });
    const progress = createProgress(io);
    const stackOptions = readStackOptions(values, progress);
    const url = typeof values.url === 'string' ? values.url.replace(/\/+$/, '') : 'http://127.0.0.1:3000';
    let stack: LocalStack | undefined;
    let served = await probe(url);
    let target = url;
    if (served === undefined) {
      io.stderr.write(`apparate: no stack answers at ${url}; starting one for the demo\n`);
      // The demo replays classifier traffic only; generation would start a decoding thread for nothing.
      stack = await startLocalStack({ ...stackOptions, port: 0, inMemory: true, generativeModels: [] });
      target = stack.url;
      served = stack.bundles.map((b) => b.model);
    }
    try {
      const models = stackOptions.models.filter((m) => served.includes(m));
      const summaries: { model: string; arrivals: string; failed: number; summary: DemoSummary }[] = [];
      const logChecks: string[] = [];
      for (const name of models) {
        const model = await loadFixtureModel(name);
        const serving = await loadModelData(model, 'serving');
        const replay = (arrivalsMs: Float64Array, label: string) =>
          replayAgainstStack({
            url: target,
            model: name,
            label,
            serving,
            firstServed: Math.floor(serving.count * DEFAULT_PREPARE.bootstrapFraction),
            classes: model.spec.classes,
            arrivalsMs,
            deadlineMs,
            settleTimeoutMs: 30_000,
            progress,
          });
        let warmupRecords: DemoRecord[] = [];
        if (warmupSeconds > 0) {
          const before = (await servedConfig(target, name))?.version ?? 0;
          const warmup = await demoArrivals(warmupSeconds, rate, seed + 1);
          io.stderr.write(
            `apparate: ${name}: warm-up, ${warmup.arrivalsMs.length} requests for the controller to tune on\n`,
          );
          warmupRecords = (await replay(warmup.arrivalsMs, 'warm-up')).records;
          progress.stop();
          // A stack the demo started runs its controller now; a running one does on its own timer.
          if (stack !== undefined) {
            await stack.runControllers();
            for (const worker of stack.pool.all()) await worker.checkConfigNow();
          }
          const version = await waitForNewConfig(target, name, before, stack === undefined ? 30_000 : 5_000);
          io.stderr.write(`apparate: ${name}: serving config version ${version}\n`);
        }
        if ((await servedConfig(target, name))?.ramps?.length === 0) {
          io.stderr.write(
            `apparate: ${name}: no ramps are active: on this machine a ramp and its cut cost more than the ramp budget allows, so the model is served plain; restart the stack with a larger --ramp-budget (e.g. 0.1) to trade some latency of non-exiting inputs for early exits\n`,
          );
        }
        const arrivals = await demoArrivals(seconds, rate, seed);
        io.stderr.write(
          `apparate: ${name}: ${arrivals.arrivalsMs.length} requests, ${arrivals.description}\n`,
        );
        const measuredFromMs = Date.now();
        const result = await replay(arrivals.arrivalsMs, 'measured');
        progress.stop();
        logChecks.push(
          demoLogCheck(
            name,
            measuredFromMs,
            Date.now(),
            summariseDemo([...warmupRecords, ...result.records]),
          ),
        );
        if (result.failed > 0) {
          io.stderr.write(
            `apparate: ${name}: ${result.failed} requests got no final answer${result.firstError ? ` (first: ${result.firstError})` : ''}\n`,
          );
        }
        summaries.push({
          model: name,
          arrivals: arrivals.description,
          failed: result.failed,
          summary: summariseDemo(result.records),
        });
      }
      if (values.json === true) {
        io.stdout.write(`${JSON.stringify(summaries, null, 2)}\n`);
      } else {
        io.stdout.write('\nPlain is the final answer of every request (every input runs the whole model);\n');
        io.stdout.write('Apparate is the answer released first (early when a ramp was confident).\n\n');
        for (const { model, summary } of summaries) io.stdout.write(formatDemoSummary(model, summary));
        // A stack the demo started keeps its tables in memory, gone once the demo ends.
        if (stack === undefined) {
          io.stdout.write(
            `The exit logs hold the same answers; read them back with:\n${logChecks.join('')}\n`,
          );
        }
      }
      return summaries.every((s) => s.summary.requests > 0) ? 0 : 1;
    } finally {
      progress.stop();
      await stack?.close();
    }
  },
};
