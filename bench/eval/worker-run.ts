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
  /**
   * When the serving process released that first answer, on the same timeline; NaN where it did
   * not say. `releaseMs` minus this is the answer's way out: the event loop, the channel, the client.
   */
  servedReleaseMs: number;
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
  /** Wall time from the first arrival to the last answer, summed over the slices served. */
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

/**
 * A serving process with its worker warm, serving the planned requests in slices the caller
 * chooses (`serve`), then stopped (`finish`). Between slices the process idles with its queue
 * empty, so several runs can take turns on the same machine: the evaluation interleaves its
 * policies slice by slice (phases.ts), and a change in the host's speed then falls on all of them
 * alike. Each slice's clock is set so that its first planned arrival is "now": times in the
 * records stay on the planned timeline, and the idle time between slices appears nowhere.
 */
export class ServingRun {
  private readonly records: RequestRecord[];
  private readonly batches: BatchRecord[] = [];
  private readonly published: ServingRunResult['published'] = [];
  private readonly applied: { atMs: number; version: number }[] = [];
  /** Epoch ms at `performance.now()` 0, as precise as the serving process's (gpu-worker/worker.ts). */
  private readonly epochOffsetMs = performance.timeOrigin;
  private t0 = Number.POSITIVE_INFINITY;
  private answered = 0;
  private failure: Error | undefined;
  private lastVersion: number;
  private servedMs = 0;
  private clientMs = 0;
  private readonly server: ServingProcess;

  private constructor(private readonly options: ServingRunOptions) {
    this.records = options.requests.map((request) => ({
      arrivalMs: request.atMs,
      releaseMs: Number.NaN,
      servedReleaseMs: Number.NaN,
      finalMs: Number.NaN,
      early: false,
      releasedClass: -1,
      finalClass: -1,
      dropped: false,
      configVersion: -1,
    }));
    this.lastVersion = options.config.version;
    this.server = ServingProcess.fork((reply) => {
      const atMs = this.clock();
      if (reply.type === 'releases') {
        for (const event of reply.releases) this.release(event, atMs);
      } else if (reply.type === 'published') {
        this.published.push({ atMs, version: reply.version, rampIds: reply.rampIds });
      } else {
        const startMs = reply.startedAtMs - this.epochOffsetMs - this.t0;
        this.batches.push({
          startMs,
          requests: reply.requestIds.map((id) => Number(id.slice(1))),
          finalAfterStartMs: reply.finalAtMs.map((at) => at - reply.startedAtMs),
          paddedSize: reply.paddedSize,
          configVersion: reply.configVersion,
        });
        if (reply.configVersion !== this.lastVersion) {
          this.lastVersion = reply.configVersion;
          this.applied.push({ atMs: startMs, version: reply.configVersion });
        }
      }
    });
  }

  /** Forks the serving process and resolves once its worker is warm. */
  static async start(options: ServingRunOptions): Promise<ServingRun> {
    const run = new ServingRun(options);
    try {
      await run.server.serve({
        bundleDir: options.bundleDir,
        model: options.model,
        config: options.config,
        configPollMs: options.configPollMs,
        warmupInputs: [...options.warmupInputs],
        layout: options.layout,
        ...(options.controller === undefined ? {} : { controller: options.controller }),
      });
    } catch (error) {
      run.kill();
      throw error;
    }
    return run;
  }

  /**
   * Serves planned requests `from` to `to` (exclusive) at their planned times, the slice's clock
   * starting at `startMs` on the planned timeline, and resolves once every one is answered.
   * Slices must come in order: a slice waits for every earlier request's answer too.
   */
  async serve(from: number, to: number, startMs: number): Promise<void> {
    const { requests } = this.options;
    this.t0 = performance.now() + 20 - startMs;
    const began = performance.now();
    const clientBefore = cpuSnapshot();
    let next = from;
    while (next < to && this.server.failed === undefined) {
      const now = this.clock();
      const due: Parameters<ServingProcess['send']>[0] = [];
      while (next < to && (requests[next] as PlannedRequest).atMs <= now) {
        const request = requests[next] as PlannedRequest;
        const enqueuedAtMs = this.t0 + request.atMs + this.epochOffsetMs;
        due.push({
          requestId: `r${next}`,
          enqueuedAtMs,
          deadlineAtMs: enqueuedAtMs + this.options.sloMs,
          input: request.input,
        });
        next++;
      }
      this.server.send(due);
      const at = next < to ? requests[next]?.atMs : undefined;
      if (at !== undefined) await sleep(Math.max(0, Math.min(at - this.clock(), 2)));
    }
    const until = performance.now() + DRAIN_TIMEOUT_MS;
    while (
      this.answered < to &&
      performance.now() < until &&
      this.failure === undefined &&
      this.server.failed === undefined
    ) {
      await sleep(5);
    }
    this.failure ??= this.server.failed;
    if (this.failure !== undefined) throw this.failure;
    if (this.answered < to) {
      throw new Error(`${to - this.answered} requests got no answer within ${DRAIN_TIMEOUT_MS} ms`);
    }
    this.servedMs += performance.now() - began;
    this.clientMs += cpuSpent(clientBefore, cpuSnapshot()).processMs;
  }

  /** Stops the worker and returns what the slices served. */
  async finish(): Promise<ServingRunResult> {
    const serving = await this.server.stop();
    const cpu = serving === undefined ? null : { ...serving, clientMs: this.clientMs };
    return {
      requests: this.records,
      batches: this.batches,
      published: this.published,
      applied: this.applied,
      wallSeconds: this.servedMs / 1000,
      cpu,
    };
  }

  /** Kills the serving process if it still runs (after a failure on either side). */
  kill(): void {
    this.server.kill();
  }

  private clock(): number {
    return performance.now() - this.t0;
  }

  private release(event: Release, atMs: number): void {
    if (!event.requestId.startsWith('r')) return;
    const record = this.records[Number(event.requestId.slice(1))];
    if (record === undefined) return;
    if (event.kind === 'error') {
      if (event.code !== 'deadline_exceeded') {
        this.failure ??= new Error(`request ${event.requestId} failed: ${event.message ?? event.code ?? ''}`);
      }
      if (!record.dropped && Number.isNaN(record.finalMs)) this.answered += 1;
      record.dropped = true;
      return;
    }
    const servedAtMs =
      event.releasedAtMs === undefined ? Number.NaN : event.releasedAtMs - this.epochOffsetMs - this.t0;
    if (event.kind === 'early') {
      if (Number.isNaN(record.releaseMs)) {
        record.releaseMs = atMs;
        record.servedReleaseMs = servedAtMs;
        record.early = true;
        record.releasedClass = event.classIndex;
        record.configVersion = event.configVersion;
      }
      return;
    }
    if (Number.isNaN(record.finalMs)) this.answered += 1;
    record.finalMs = atMs;
    record.finalClass = event.classIndex;
    if (Number.isNaN(record.releaseMs)) {
      record.releaseMs = atMs;
      record.servedReleaseMs = servedAtMs;
      record.releasedClass = event.classIndex;
      record.configVersion = event.configVersion;
    }
  }
}

/** Runs the worker over all the planned requests in one go and records every release and batch. */
export async function runServing(options: ServingRunOptions): Promise<ServingRunResult> {
  const run = await ServingRun.start(options);
  try {
    await run.serve(0, options.requests.length, 0);
    return await run.finish();
  } finally {
    run.kill();
  }
}
