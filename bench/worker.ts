/**
 * The real worker, in process, on the CPU: throughput with early exits on over the plain model
 * (target ratio at least 0.98), the worker's own overhead per request at the median (target under
 * 0.5 ms), and early-release versus final latency. Each fixture model is served from the in-process
 * queue into a callback sink under a closed loop that keeps two full batches outstanding (a steady
 * rate at the worker's capacity). One worker runs phases switched by config swaps: calibration
 * (ramps observing at threshold 0, to tune thresholds at 99% agreement), then `--rounds` rounds
 * (default 5) of plain and exits-on phases, alternating and ending with plain. Each round's ratio is
 * its exits-on throughput over the mean of the plain phases on either side of it, so a slow drift
 * of the machine touches both sides alike; the table gives the median ratio and the sign-test
 * interval of that median with its coverage (five rounds: min – max at 93.8%), because on two
 * cores phases without any ramp already spread by ±5%, and a median alone cannot tell 0.97 from
 * 0.98.
 *
 * `--outstanding N` keeps N requests in flight instead, so that the worker serves batches of
 * about N / lanes rows, as it does below its capacity: there a ramp's cost per batch (its head, its
 * tap, and handing its output to the main thread) weighs most, and a second line gives the median
 * batch's rows, inference-thread time and wall time, plain against exits.
 *
 * Overhead per request = its receive-to-queued time plus its share of its batch's wall time that
 * was not the engine thread's run (encoding, handing tensors over, exit rule, releases, acks).
 * CPU per request is split by thread (bench/thread-cpu.ts): the main thread, the inference lanes,
 * and the rest, mostly V8's collector reclaiming the activations each cut copies out; what exits
 * add there is what they cost the lanes on a machine whose cores the lanes fill.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { MemoryRequestQueue } from '../adapters/queue';
import { readBundle, writeBundle } from '../core/bundle/bundle-io';
import { costProfileFromManifest } from '../core/bundle/cost-profile';
import type { RampConfig } from '../core/control/ramp-config';
import { configCostsAt } from '../core/control/costs';
import { concatWindows, windowFromColumns, type ExitWindow } from '../core/control/records';
import { tuneThresholds } from '../core/control/threshold-tuner';
import { sampleAt } from '../core/data/dataset';
import { prepareModel } from '../core/prepare/prepare-model';
import { maxOf, median, minOf } from '../core/util/stats';
import { listFixtureModels, loadModelData } from '../core/zoo/fixtures';
import {
  ApparateWorker,
  type BatchReport,
  CallbackResultSink,
  silentLogger,
  type SinkEvent,
} from '../gpu-worker';
import type { Benchmark } from './run';
import { medianInterval } from './eval/median-interval';
import { describeLayout, threadLayoutArgs } from './thread-layout-args';
import { splitThreadCpu, threadCpuMs } from './thread-cpu';

const PHASE_MS = 4000;
const DEFAULT_ROUNDS = 5;
const WARMUP_MS = 1000;

/** Per-request CPU by thread role, the median of each role over phases. */
function medianCpu(phases: readonly PhaseResult[]): { main: number; lanes: number; other: number } {
  return {
    main: median(phases.map((p) => p.cpuUs.main)),
    lanes: median(phases.map((p) => p.cpuUs.lanes)),
    other: median(phases.map((p) => p.cpuUs.other)),
  };
}

/** CPU per request by role, e.g. `144/1459/97`. */
const cpuCell = (cpu: { main: number; lanes: number; other: number }): string =>
  `${cpu.main.toFixed(0)}/${cpu.lanes.toFixed(0)}/${cpu.other.toFixed(0)}`;

/** Share of the batches' ramp outputs that were posted mid-run (0 when no batch had a ramp). */
function postedShare(reports: readonly BatchReport[]): number {
  const outputs = reports.reduce((sum, r) => sum + r.config.ramps.length, 0);
  const posted = reports.reduce((sum, r) => sum + r.rampsPostedMidRun, 0);
  return outputs === 0 ? 0 : posted / outputs;
}

/** A share as a whole percentage. */
const pct = (share: number): string => `${(share * 100).toFixed(0)}%`;

/** A median ratio with its sign-test interval, e.g. `0.971 [0.925-0.999, 94%]`. */
function ratioCell(ratio: number, interval: { low: number; high: number; coverage: number }): string {
  const coverage = Math.round(interval.coverage * 100);
  return `${ratio.toFixed(3)} [${interval.low.toFixed(3)}-${interval.high.toFixed(3)}, ${coverage}%]`;
}

/**
 * Medians over a policy's batches: real rows, the inference thread's time, the batch's wall time;
 * and the share of ramp outputs posted mid-run (the rest released nothing and came at the end).
 */
interface BatchMedians {
  readonly rows: number;
  readonly engineMs: number;
  readonly wallMs: number;
  readonly postedShare: number;
}

interface PhaseResult {
  readonly throughput: number;
  /**
   * Share of the phase the main thread's event loop was busy (encoding, exit rule, releases, acks,
   * and this benchmark's own client). On two cores with two lanes it competes with the lanes, so
   * what exits add here is throughput the lanes lose.
   */
  readonly mainBusy: number;
  /** CPU per answered request, µs, by thread role (bench/thread-cpu.ts; zeros where /proc is absent). */
  readonly cpuUs: { main: number; lanes: number; other: number };
  readonly overheadMs: number[];
  readonly earlyMs: number[];
  readonly finalMs: number[];
  exits: number;
  answers: number;
  readonly reports: BatchReport[];
}

export const workerBenchmark: Benchmark = {
  name: 'worker',
  summary: 'the real worker: exits-on throughput vs plain, overhead, early vs final latency',
  usage:
    'usage: npm run bench -- worker [--models mnist-resnet,spam-bert] [--rounds 1-20] [--outstanding N] [--inference-threads N] [--intra-op-threads M] [--json]',
  async run(args) {
    const json = args.includes('--json');
    const roundsAt = args.indexOf('--rounds');
    const rounds = roundsAt < 0 ? DEFAULT_ROUNDS : Number(args[roundsAt + 1]);
    if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) {
      throw new Error(`--rounds must be a whole number from 1 to 20, got ${String(args[roundsAt + 1])}`);
    }
    const threads = threadLayoutArgs(args);
    const outstandingAt = args.indexOf('--outstanding');
    const outstandingArg = outstandingAt < 0 ? undefined : Number(args[outstandingAt + 1]);
    if (outstandingArg !== undefined && !(Number.isInteger(outstandingArg) && outstandingArg >= 1)) {
      throw new Error(
        `--outstanding must be a whole number of requests from 1, got ${String(args[outstandingAt + 1])}`,
      );
    }
    const modelsAt = args.indexOf('--models');
    const only = modelsAt < 0 ? undefined : String(args[modelsAt + 1]).split(',');
    const fixtures = await listFixtureModels();
    const unknown = only?.filter((name) => !fixtures.some((model) => model.spec.name === name)) ?? [];
    if (unknown.length > 0) {
      throw new Error(
        `--models names no fixture ${unknown.join(', ')}; the fixtures are ${fixtures.map((m) => m.spec.name).join(', ')}`,
      );
    }
    const rows = [];
    for (const model of fixtures.filter((m) => only === undefined || only.includes(m.spec.name))) {
      const name = model.spec.name;
      const stream = await loadModelData(model, 'serving');
      const cached = resolve(__dirname, '..', '.cache', 'bundles', name);
      let bundleDir = cached;
      if (!existsSync(join(cached, 'manifest.json'))) {
        bundleDir = join(mkdtempSync(join(tmpdir(), `apparate-bench-${name}-`)), 'bundle');
        await writeBundle(bundleDir, await prepareModel(model, stream, { repeats: 3, warmupRuns: 1 }));
      }
      const bundle = await readBundle(bundleDir);
      const inputs = Array.from({ length: Math.min(stream.count, 2000) }, (_, i) => {
        const sample = sampleAt(stream, i);
        return sample.kind === 'image' ? Array.from(sample.pixels) : sample.text;
      });

      const queue = new MemoryRequestQueue();
      let listener: (event: SinkEvent) => void = () => undefined;
      let onBatch: (report: BatchReport, overhead: readonly number[]) => void = () => undefined;
      let published: RampConfig = { version: 0, ramps: [] };
      const worker = await ApparateWorker.start({
        bundleDir,
        queue,
        sink: new CallbackResultSink((event) => listener(event)),
        config: published,
        configStore: { latest: () => Promise.resolve({ model: name, config: published, publishedAtMs: 0 }) },
        configPollMs: 3_600_000,
        logger: silentLogger,
        onBatch: (report, overhead) => onBatch(report, overhead),
        ...threads,
      });
      const swap = async (config: RampConfig): Promise<void> => {
        published = config;
        await worker.checkConfigNow();
        if (worker.config.version !== config.version) throw new Error(`config ${config.version} was refused`);
      };
      const lanes = describeLayout(threads).inferenceThreads;
      // Two full batches outstanding per inference thread: every thread always has its next batch.
      // Fewer (`--outstanding`) serve small batches, as a worker does below its capacity, where what
      // a ramp costs per batch weighs most.
      const outstanding =
        outstandingArg ??
        2 * Math.max(...bundle.manifest.profile.batchSizes) * (threads.inferenceThreads ?? 1);
      let sequence = 0;
      const send = (): Promise<void> => {
        const now = Date.now();
        const i = sequence++;
        return queue.send({
          requestId: `b${i}`,
          model: name,
          enqueuedAtMs: now,
          deadlineAtMs: now + 60_000,
          input: inputs[i % inputs.length],
          mode: 'async',
        });
      };
      const phase = async (durationMs: number): Promise<PhaseResult> => {
        const result: PhaseResult = {
          throughput: 0,
          mainBusy: 0,
          cpuUs: { main: 0, lanes: 0, other: 0 },
          overheadMs: [],
          earlyMs: [],
          finalMs: [],
          exits: 0,
          answers: 0,
          reports: [],
        };
        let measuring = false;
        let running = true;
        let inFlight = 0;
        const released = new Set<string>();
        listener = (event) => {
          if (event.kind === 'error')
            throw new Error(`request ${event.requestId} failed: ${event.error.message}`);
          if (event.kind === 'early') {
            released.add(event.requestId);
            if (measuring) result.earlyMs.push(event.answer.latencyMs);
            return;
          }
          inFlight -= 1;
          // An exit counts with its request's final answer, so that the rate over the window
          // never counts an early answer whose request finishes after the window closes.
          const exited = released.delete(event.requestId);
          if (measuring) {
            result.answers += 1;
            if (exited) result.exits += 1;
            result.finalMs.push(event.answer.latencyMs);
          }
          if (running) {
            inFlight += 1;
            void send();
          }
        };
        onBatch = (report, overhead) => {
          if (!measuring) return;
          result.reports.push(report);
          result.overheadMs.push(...overhead);
        };
        for (; inFlight < outstanding; inFlight++) await send();
        await new Promise((done) => setTimeout(done, WARMUP_MS));
        measuring = true;
        const began = performance.now();
        const loopBefore = performance.eventLoopUtilization();
        const cpuBefore = threadCpuMs();
        await new Promise((done) => setTimeout(done, durationMs));
        const elapsedS = (performance.now() - began) / 1000;
        const mainBusy = performance.eventLoopUtilization(loopBefore).utilization;
        const cpu = splitThreadCpu(cpuBefore, threadCpuMs(), process.pid, lanes);
        const perAnswer = (ms: number) => (1000 * ms) / Math.max(1, result.answers);
        const cpuUs = {
          main: perAnswer(cpu.mainMs),
          lanes: perAnswer(cpu.lanesMs),
          other: perAnswer(cpu.otherMs),
        };
        measuring = false;
        running = false;
        while (inFlight > 0) await new Promise((done) => setTimeout(done, 10));
        return { ...result, throughput: result.answers / elapsedS, mainBusy, cpuUs };
      };

      const ids = bundle.manifest.initialConfig.ramps.map((ramp) => ramp.id);
      await swap({ version: 1, ramps: ids.map((id) => ({ id, threshold: 0 })) });
      const calibration = await phase(2000);
      const window: ExitWindow = concatWindows(
        calibration.reports.map((report) => windowFromColumns(report.confidence, report.agrees)),
        ids.length,
      );
      const profile = costProfileFromManifest(bundle.manifest);
      const active = ids.map((id) => bundle.manifest.candidates.findIndex((c) => c.id === id));
      const tuned = tuneThresholds(
        window,
        configCostsAt(profile, active, Math.max(...bundle.manifest.profile.batchSizes)),
        {
          constraint: 0.99,
        },
      );
      const tunedRamps = ids.map((id, r) => ({ id, threshold: tuned.thresholds[r] ?? 0 }));
      let version = 1;
      await swap({ version: ++version, ramps: [] });
      const plains: PhaseResult[] = [await phase(PHASE_MS)];
      const exitPhases: PhaseResult[] = [];
      for (let round = 0; round < rounds; round++) {
        await swap({ version: ++version, ramps: tunedRamps });
        exitPhases.push(await phase(PHASE_MS));
        await swap({ version: ++version, ramps: [] });
        plains.push(await phase(PHASE_MS));
      }
      await worker.stop();
      await queue.close();

      // Each exits-on phase against the plain phases on either side of it.
      const ratios = exitPhases.map((e, i) => {
        const before = plains[i]?.throughput ?? Number.NaN;
        const after = plains[i + 1]?.throughput ?? Number.NaN;
        return e.throughput / ((before + after) / 2);
      });
      const batchMedians = (phases: readonly PhaseResult[]): BatchMedians => ({
        rows: median(phases.flatMap((p) => p.reports.map((r) => r.requests.length))),
        engineMs: median(phases.flatMap((p) => p.reports.map((r) => r.engineMs))),
        wallMs: median(phases.flatMap((p) => p.reports.map((r) => r.wallMs))),
        postedShare: postedShare(phases.flatMap((p) => p.reports)),
      });
      const earlyMs = exitPhases.flatMap((e) => e.earlyMs);
      const exits = exitPhases.reduce((sum, e) => sum + e.exits, 0);
      const answers = exitPhases.reduce((sum, e) => sum + e.answers, 0);
      const interval = medianInterval(ratios);
      rows.push({
        model: name,
        // Which ramps were measured: a bundle prepared afresh may place others than the last run's.
        ramps: ids,
        throughputRatio: median(ratios),
        throughputRatioMin: minOf(ratios),
        throughputRatioMax: maxOf(ratios),
        throughputRatioInterval: { low: interval.low, high: interval.high, coverage: interval.coverage },
        rounds,
        outstanding,
        plainBatch: batchMedians(plains),
        exitsBatch: batchMedians(exitPhases),
        overheadMsP50: median(exitPhases.flatMap((e) => e.overheadMs)),
        earlyReleaseMsP50: earlyMs.length > 0 ? median(earlyMs) : null,
        finalMsP50: median(exitPhases.flatMap((e) => e.finalMs)),
        exitRate: exits / Math.max(1, answers),
        plainThroughput: median(plains.map((p) => p.throughput)),
        exitsThroughput: median(exitPhases.map((e) => e.throughput)),
        plainOverheadMsP50: median(plains.flatMap((p) => p.overheadMs)),
        plainMainBusy: median(plains.map((p) => p.mainBusy)),
        exitsMainBusy: median(exitPhases.map((e) => e.mainBusy)),
        plainCpuUs: medianCpu(plains),
        exitsCpuUs: medianCpu(exitPhases),
        thresholds: tuned.thresholds,
        calibrationAgreement: tuned.evaluation.agreement,
      });
    }
    if (json) {
      const keys = [
        'model',
        'ramps',
        'throughputRatio',
        'throughputRatioMin',
        'throughputRatioMax',
        'throughputRatioInterval',
        'overheadMsP50',
        'earlyReleaseMsP50',
        'finalMsP50',
        'exitRate',
        'plainMainBusy',
        'exitsMainBusy',
        'plainCpuUs',
        'exitsCpuUs',
        'outstanding',
        'plainBatch',
        'exitsBatch',
      ] as const;
      process.stdout.write(
        `${JSON.stringify(
          rows.map((row) => Object.fromEntries(keys.map((k) => [k, row[k]]))),
          null,
          2,
        )}\n`,
      );
    } else {
      process.stdout.write(
        `${'model'.padEnd(20)}${'plain/s'.padStart(9)}${'exits/s'.padStart(9)}${'ratio [interval, coverage]'.padStart(30)}${'ovh ms'.padStart(8)}${'early ms'.padStart(10)}${'final ms'.padStart(10)}${'exit rate'.padStart(11)}${'main busy'.padStart(14)}  ramps  cpu µs/request, main/lanes/other: plain → exits\n`,
      );
      for (const r of rows) {
        process.stdout.write(
          `${r.model.padEnd(20)}${r.plainThroughput.toFixed(0).padStart(9)}${r.exitsThroughput.toFixed(0).padStart(9)}${ratioCell(r.throughputRatio, r.throughputRatioInterval).padStart(30)}${r.overheadMsP50.toFixed(3).padStart(8)}${(r.earlyReleaseMsP50 ?? Number.NaN).toFixed(1).padStart(10)}${r.finalMsP50.toFixed(1).padStart(10)}${r.exitRate.toFixed(3).padStart(11)}${`${pct(r.plainMainBusy)}/${pct(r.exitsMainBusy)}`.padStart(14)}  ${r.ramps.join('+') || 'none'}  ${cpuCell(r.plainCpuUs)} → ${cpuCell(r.exitsCpuUs)}\n`,
        );
      }
      for (const r of rows) {
        process.stdout.write(
          `${r.model}: ${r.outstanding} requests outstanding; median batch ${r.plainBatch.rows} → ${r.exitsBatch.rows} rows, inference thread ${r.plainBatch.engineMs.toFixed(3)} → ${r.exitsBatch.engineMs.toFixed(3)} ms, batch wall ${r.plainBatch.wallMs.toFixed(3)} → ${r.exitsBatch.wallMs.toFixed(3)} ms (plain → exits); ${pct(r.exitsBatch.postedShare)} of ramp outputs posted mid-run\n`,
        );
      }
    }
    return {
      benchmark: 'worker',
      targets: 'throughputRatio >= 0.98; overheadMsP50 < 0.5',
      machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version },
      measuredAt: new Date().toISOString(),
      threads: describeLayout(threads),
      rows,
    };
  },
};
