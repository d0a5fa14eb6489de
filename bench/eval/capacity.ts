/**
 * The plain model's capacity on this machine, measured on the real worker before the evaluation's
 * runs, so that loads are fractions of what this machine serves now.
 */
import { performance } from 'node:perf_hooks';
import { maxOf } from '../../core/util/stats';
import { DRAIN_TIMEOUT_MS, FAR_DEADLINE_MS, sleep, startWorker, stopWorker, warmUp } from './worker-harness';
import type { RequestInput } from './workload';
import { resolveThreadLayout, type ThreadLayout } from '../../gpu-worker';

export interface CapacityResult {
  /** Requests per second of the plain model under a closed loop at full batches. */
  readonly rps: number;
  /** Median time of one batch at the largest size, start to last final answer, ms. */
  readonly largestBatchMs: number;
  readonly largestBatchSize: number;
  /** Every window counted where several were, in order; `rps` is the best of them. */
  readonly readingsRps?: readonly number[];
}

/**
 * Capacity of the plain model on this machine now: the worker under a closed loop that keeps two
 * largest batches outstanding (deadlines far away), after a warm-up, for `seconds`.
 */
export async function measureCapacity(
  bundleDir: string,
  model: string,
  inputs: readonly RequestInput[],
  largestBatchSize: number,
  seconds: number,
  layout: ThreadLayout = {},
): Promise<CapacityResult> {
  const started = await startWorker(bundleDir, model, { version: 0, ramps: [] }, 3_600_000, layout);
  try {
    await warmUp(started, model, inputs.slice(0, 2 * largestBatchSize));
    let sequence = 0;
    let answers = 0;
    let running = true;
    let inFlight = 0;
    let measuring = false;
    const batchMs: number[] = [];
    const send = (): void => {
      const i = sequence++;
      const now = Date.now();
      inFlight += 1;
      void started.queue.send({
        requestId: `c${i}`,
        model,
        enqueuedAtMs: now,
        deadlineAtMs: now + FAR_DEADLINE_MS,
        input: inputs[i % inputs.length],
        mode: 'async',
      });
    };
    started.setListener((event) => {
      if (event.kind === 'early') return;
      inFlight -= 1;
      if (measuring) answers += 1;
      if (running) send();
    });
    started.setOnBatch((report) => {
      if (!measuring || report.paddedSize !== largestBatchSize) return;
      batchMs.push(maxOf(report.finalAtMs) - report.startedAtMs);
    });
    // Two full batches per inference thread, so that no thread waits for work.
    const lanes = resolveThreadLayout(layout, 'cpu').inferenceThreads;
    for (let i = 0; i < 2 * largestBatchSize * lanes; i++) send();
    await sleep(500);
    measuring = true;
    const began = performance.now();
    await sleep(seconds * 1000);
    const elapsedS = (performance.now() - began) / 1000;
    measuring = false;
    running = false;
    const until = performance.now() + DRAIN_TIMEOUT_MS;
    while (inFlight > 0 && performance.now() < until) await sleep(5);
    batchMs.sort((a, b) => a - b);
    return {
      rps: answers / elapsedS,
      largestBatchMs: batchMs[Math.floor(batchMs.length / 2)] ?? Number.NaN,
      largestBatchSize,
    };
  } finally {
    await stopWorker(started);
  }
}
