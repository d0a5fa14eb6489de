/**
 * One serving run of the real worker, in process: the bundle is served from the in-memory queue
 * into a callback sink, requests are sent at their planned arrival times (open loop: a slow
 * worker does not slow the arrivals), and every release is timestamped on this process's clock
 * the moment the sink receives it. Latency is measured from the planned arrival, not from the
 * send, so a busy event loop that sends late is charged to the system, as a client would see it.
 *
 * A live controller, when given, sees each served batch's report (the worker's `onBatch`) and
 * may publish a new config to the in-memory config store, which the worker polls every
 * `configPollMs`: the same loop as in production, with its real lag, only with shorter polls.
 */
import { performance } from 'node:perf_hooks';
import type { RampConfig } from '../../core/control/ramp-config';
import type { BatchReport } from '../../gpu-worker';
import { DRAIN_TIMEOUT_MS, sleep, startWorker, stopWorker, warmUp } from './worker-harness';
import type { PlannedRequest, RequestInput } from './workload';

/** A controller driven by the worker's batch reports; returns a config to publish, if any. */
export interface LiveController {
  observe(report: BatchReport, nowMs: number): RampConfig | undefined;
}

export interface ServingRunOptions {
  readonly bundleDir: string;
  readonly model: string;
  readonly config: RampConfig;
  readonly requests: readonly PlannedRequest[];
  readonly sloMs: number;
  readonly controller?: LiveController;
  readonly configPollMs: number;
  /** Served before the clock starts (JIT and session warm-up); not measured, not shown to the controller. */
  readonly warmupInputs: readonly RequestInput[];
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
  readonly published: { atMs: number; version: number }[];
  readonly applied: { atMs: number; version: number }[];
  /** Wall time from the first arrival to the last answer. */
  readonly wallSeconds: number;
}

/** Runs the worker over the planned requests and records every release and batch. */
export async function runServing(options: ServingRunOptions): Promise<ServingRunResult> {
  const { model, requests } = options;
  const started = await startWorker(options.bundleDir, model, options.config, options.configPollMs);
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
  const published: { atMs: number; version: number }[] = [];
  const applied: { atMs: number; version: number }[] = [];
  try {
    await warmUp(started, model, options.warmupInputs);
    const t0 = performance.now() + 20;
    const epochOffsetMs = Date.now() - performance.now();
    const clock = (): number => performance.now() - t0;
    let answered = 0;
    let failure: Error | undefined;
    started.setListener((event) => {
      const atMs = clock();
      if (!event.requestId.startsWith('r')) return;
      const record = records[Number(event.requestId.slice(1))];
      if (record === undefined) return;
      if (event.kind === 'error') {
        if (event.error.code !== 'deadline_exceeded') {
          failure ??= new Error(`request ${event.requestId} failed: ${event.error.message}`);
        }
        if (!record.dropped && Number.isNaN(record.finalMs)) answered += 1;
        record.dropped = true;
        return;
      }
      if (event.kind === 'early') {
        if (Number.isNaN(record.releaseMs)) {
          record.releaseMs = atMs;
          record.early = true;
          record.releasedClass = event.answer.classIndex;
          record.configVersion = event.answer.configVersion;
        }
        return;
      }
      if (Number.isNaN(record.finalMs)) answered += 1;
      record.finalMs = atMs;
      record.finalClass = event.answer.classIndex;
      if (Number.isNaN(record.releaseMs)) {
        record.releaseMs = atMs;
        record.releasedClass = event.answer.classIndex;
        record.configVersion = event.answer.configVersion;
      }
    });
    let lastVersion = options.config.version;
    started.setOnBatch((report) => {
      const indices = report.requests.map((held) => held.message.request.requestId);
      if (!indices.every((id) => id.startsWith('r'))) return;
      const rows = indices.map((id) => Number(id.slice(1)));
      const finalAfterStartMs = Array.from(report.finalAtMs, (at) => at - report.startedAtMs);
      const first = records[rows[0] as number];
      const startMs = (first?.finalMs ?? Number.NaN) - (finalAfterStartMs[0] ?? 0);
      batches.push({
        startMs,
        requests: rows,
        finalAfterStartMs,
        paddedSize: report.paddedSize,
        configVersion: report.config.version,
      });
      if (report.config.version !== lastVersion) {
        lastVersion = report.config.version;
        applied.push({ atMs: startMs, version: report.config.version });
      }
      const next = options.controller?.observe(report, clock());
      if (next !== undefined) {
        started.publish(next);
        published.push({ atMs: clock(), version: next.version });
      }
    });

    const began = performance.now();
    let next = 0;
    while (next < requests.length) {
      const now = clock();
      while (next < requests.length && (requests[next] as PlannedRequest).atMs <= now) {
        const request = requests[next] as PlannedRequest;
        const enqueuedAtMs = t0 + request.atMs + epochOffsetMs;
        void started.queue
          .send({
            requestId: `r${next}`,
            model,
            enqueuedAtMs,
            deadlineAtMs: enqueuedAtMs + options.sloMs,
            input: request.input,
            mode: 'async',
          })
          .catch((error: unknown) => {
            failure ??= error instanceof Error ? error : new Error(String(error));
          });
        next++;
      }
      const due = requests[next]?.atMs;
      if (due !== undefined) await sleep(Math.max(0, Math.min(due - clock(), 2)));
    }
    const until = performance.now() + DRAIN_TIMEOUT_MS;
    while (answered < requests.length && performance.now() < until && failure === undefined) await sleep(5);
    if (failure !== undefined) throw failure;
    if (answered < requests.length) {
      throw new Error(`${requests.length - answered} requests got no answer within ${DRAIN_TIMEOUT_MS} ms`);
    }
    return {
      requests: records,
      batches,
      published,
      applied,
      wallSeconds: (performance.now() - began) / 1000,
    };
  } finally {
    await stopWorker(started);
  }
}
