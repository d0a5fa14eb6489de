/**
 * One serving run of the real worker, measured as a client sees it: the worker (with its live
 * controller and config store) runs in a serving process of its own (serving-process.ts) and this
 * process only offers the load and times the answers, so the two never share an event loop.
 * Requests are sent at their planned arrival times (open loop: a slow worker does not slow the
 * arrivals), and every release is timestamped on this process's clock the moment it arrives.
 * Latency is measured from the planned arrival, not from the send, so a late send is charged to
 * the system, as a client would see it.
 *
 * The live controller, when asked for, sees each served batch's report in the serving process and
 * publishes new configs to its in-memory config store, which the worker polls every
 * `configPollMs`: the same loop as in production, with its real lag, only with shorter polls.
 */
import { performance } from 'node:perf_hooks';
import type { RampConfig } from '../../core/control/ramp-config';
import type { ThreadLayout } from '../../core/inference/thread-layout';
import { cpuSnapshot, cpuSpent } from '../api/cpu-meter';
import { ServingProcess } from './serving-client';
import type { ControllerSettings, Release } from './serving-protocol';
import { DRAIN_TIMEOUT_MS, sleep } from './worker-harness';
import type { PlannedRequest, RequestInput } from './workload';

export interface ServingRunOptions {
  readonly bundleDir: string;
  readonly model: string;
  readonly config: RampConfig;
  readonly requests: readonly PlannedRequest[];
  readonly sloMs: number;
  /** The live Apparate controller's settings; none serves `config` unchanged. */
  readonly controller?: ControllerSettings;
  readonly configPollMs: number;
  /** Served before the clock starts (JIT and session warm-up); not measured, not shown to the controller. */
  readonly warmupInputs: readonly RequestInput[];
  /** The worker's thread layout. */
  readonly layout: ThreadLayout;
}

/** What happened to one request; times in ms from the run's start. */
export interface RequestRecord {
  readonly arrivalMs: number;
  /** First answer released (early or final); NaN when the request was dropped. */
  releaseMs: number;
  finalMs: number;
  early: boolean;
  releasedClass: number;
  finalClass: number;
  dropped: boolean;
  configVersion: number;
}

/** One served batch; times in ms from the run's start. */
export interface BatchRecord {
  readonly startMs: number;
  /** Per request of the batch: its index in the run and its time from batch start to its final answer. */
  readonly requests: readonly number[];
  readonly finalAfterStartMs: readonly number[];
  readonly paddedSize: number;
  readonly configVersion: number;
}

export interface ServingRunResult {
  readonly requests: RequestRecord[];
  readonly batches: BatchRecord[];
  /** When a config was published and when the worker first served a batch under it. */
  readonly published: { atMs: number; version: number; rampIds: readonly string[] }[];
  readonly applied: { atMs: number; version: number }[];
  /** Wall time from the first arrival to the last answer. */
  readonly wallSeconds: number;
  /** Where the cores went during the run; null where per-thread counters are unreadable. */
  readonly cpu: ServingCpu | null;
}

/**
 * CPU time a run cost, ms: the serving process's main thread, its inference lanes and its other
 * threads, and this client process (which on a small machine competes with the system it
 * measures). A policy whose batches grow larger than the plain model's under the same arrivals is
 * running closer to its capacity; these say which thread took the extra.
 */
export interface ServingCpu {
  readonly mainMs: number;
  readonly lanesMs: number;
  readonly otherMs: number;
  readonly clientMs: number;
}

/** Runs the worker over the planned requests and records every release and batch. */
export async function runServing(options: ServingRunOptions): Promise<ServingRunResult> {
  const { requests } = options;
  const records: RequestRecord[] = requests.map((request) => ({
    arrivalMs: request.atMs,
    releaseMs: Number.NaN,
    finalMs: Number.NaN,
    early: false,
    releasedClass: -1,
    finalClass: -1,
    dropped: false,
    configVersion: -1,
  }));
  const batches: BatchRecord[] = [];
  const published: ServingRunResult['published'] = [];
  const applied: { atMs: number; version: number }[] = [];
  let t0 = Number.POSITIVE_INFINITY;
  const epochOffsetMs = Date.now() - performance.now();
  const clock = (): number => performance.now() - t0;
  let answered = 0;
  let failure: Error | undefined;
  let lastVersion = options.config.version;

  const release = (event: Release, atMs: number): void => {
    if (!event.requestId.startsWith('r')) return;
    const record = records[Number(event.requestId.slice(1))];
    if (record === undefined) return;
    if (event.kind === 'error') {
      if (event.code !== 'deadline_exceeded') {
        failure ??= new Error(`request ${event.requestId} failed: ${event.message ?? event.code ?? ''}`);
      }
      if (!record.dropped && Number.isNaN(record.finalMs)) answered += 1;
      record.dropped = true;
      return;
    }
    if (event.kind === 'early') {
      if (Number.isNaN(record.releaseMs)) {
        record.releaseMs = atMs;
        record.early = true;
        record.releasedClass = event.classIndex;
        record.configVersion = event.configVersion;
      }
      return;
    }
    if (Number.isNaN(record.finalMs)) answered += 1;
    record.finalMs = atMs;
    record.finalClass = event.classIndex;
    if (Number.isNaN(record.releaseMs)) {
      record.releaseMs = atMs;
      record.releasedClass = event.classIndex;
      record.configVersion = event.configVersion;
    }
  };

  const server = ServingProcess.fork((reply) => {
    const atMs = clock();
    if (reply.type === 'releases') {
      for (const event of reply.releases) release(event, atMs);
    } else if (reply.type === 'published') {
      published.push({ atMs, version: reply.version, rampIds: reply.rampIds });
    } else {
      const startMs = reply.startedAtMs - epochOffsetMs - t0;
      batches.push({
        startMs,
        requests: reply.requestIds.map((id) => Number(id.slice(1))),
        finalAfterStartMs: reply.finalAtMs.map((at) => at - reply.startedAtMs),
        paddedSize: reply.paddedSize,
        configVersion: reply.configVersion,
      });
      if (reply.configVersion !== lastVersion) {
        lastVersion = reply.configVersion;
        applied.push({ atMs: startMs, version: reply.configVersion });
      }
    }
  });
  try {
    await server.serve({
      bundleDir: options.bundleDir,
      model: options.model,
      config: options.config,
      configPollMs: options.configPollMs,
      warmupInputs: [...options.warmupInputs],
      layout: options.layout,
      ...(options.controller === undefined ? {} : { controller: options.controller }),
    });
    t0 = performance.now() + 20;
    const began = performance.now();
    const clientBefore = cpuSnapshot();
    let next = 0;
    while (next < requests.length && server.failed === undefined) {
      const now = clock();
      const due: Parameters<ServingProcess['send']>[0] = [];
      while (next < requests.length && (requests[next] as PlannedRequest).atMs <= now) {
        const request = requests[next] as PlannedRequest;
        const enqueuedAtMs = t0 + request.atMs + epochOffsetMs;
        due.push({
          requestId: `r${next}`,
          enqueuedAtMs,
          deadlineAtMs: enqueuedAtMs + options.sloMs,
          input: request.input,
        });
        next++;
      }
      server.send(due);
      const at = requests[next]?.atMs;
      if (at !== undefined) await sleep(Math.max(0, Math.min(at - clock(), 2)));
    }
    const until = performance.now() + DRAIN_TIMEOUT_MS;
    while (
      answered < requests.length &&
      performance.now() < until &&
      failure === undefined &&
      server.failed === undefined
    ) {
      await sleep(5);
    }
    failure ??= server.failed;
    if (failure !== undefined) throw failure;
    if (answered < requests.length) {
      throw new Error(`${requests.length - answered} requests got no answer within ${DRAIN_TIMEOUT_MS} ms`);
    }
    const wallSeconds = (performance.now() - began) / 1000;
    const clientMs = cpuSpent(clientBefore, cpuSnapshot()).processMs;
    const serving = await server.stop();
    const cpu = serving === undefined ? null : { ...serving, clientMs };
    return { requests: records, batches, published, applied, wallSeconds, cpu };
  } finally {
    server.kill();
  }
}
