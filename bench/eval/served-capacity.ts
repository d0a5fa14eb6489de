/**
 * The plain model's capacity as the evaluation's client sees it: the worker in its serving
 * process, driven over the same IPC channel as the serving runs, in a closed loop from this
 * process. On a small machine the client and the channel take a share of the cores the worker
 * would otherwise have, so this is what the measured setup can actually serve, and the loads of a
 * run are fractions of it. The worker's capacity alone (capacity.ts: its closed loop inside the
 * serving process, no second process and no channel) is reported next to it; it was 7% higher on
 * mnist-resnet on two cores, and within the run-to-run spread on spam-bert.
 */
import { performance } from 'node:perf_hooks';
import { resolveThreadLayout, type ThreadLayout } from '../../core/inference/thread-layout';
import { median } from '../../core/util/stats';
import type { CapacityResult } from './capacity';
import { PLAIN_CONFIG } from './policies';
import { ServingProcess } from './serving-client';
import { DRAIN_TIMEOUT_MS, FAR_DEADLINE_MS, sleep } from './worker-harness';
import type { RequestInput } from './workload';

export interface ServedCapacityOptions {
  readonly bundleDir: string;
  readonly model: string;
  /** Inputs the loop cycles through. */
  readonly inputs: readonly RequestInput[];
  readonly largestBatchSize: number;
  readonly seconds: number;
  /** Served before the loop starts (JIT and session warm-up); not counted. */
  readonly warmupInputs: readonly RequestInput[];
  /** The worker's thread layout, as the serving runs use it. */
  readonly layout: ThreadLayout;
  /** Consecutive windows of `seconds` counted; the best one is the capacity (default 1). */
  readonly readings?: number;
}

/**
 * Windows the evaluation counts capacity over. A shared host's neighbours can slow one window by a
 * fifth (mnist-resnet read 320 req/s through the client once where the worker alone read 408, and
 * 408–416 through the client in the runs either side), and a low reading offers every policy a
 * lighter "load 0.7", whose shorter queue leaves an exit little to cut; interference only ever
 * lowers a reading, so the best of three is the steadier estimate of what the stack can serve.
 */
export const CAPACITY_READINGS = 3;

/** Time the loop runs before it starts counting, so that the queue has reached its steady depth. */
const SETTLE_MS = 500;

/**
 * Capacity of the plain model through the client's channel: two largest batches per inference
 * thread kept outstanding (deadlines far away), each final answer replaced by a new request at
 * once, answers counted over `seconds` after a settling period.
 */
export async function measureServedCapacity(options: ServedCapacityOptions): Promise<CapacityResult> {
  const { inputs, largestBatchSize } = options;
  if (inputs.length === 0) throw new Error('served capacity: no inputs to send');
  let sequence = 0;
  let inFlight = 0;
  let running = true;
  let measuring = false;
  let answers = 0;
  const batchMs: number[] = [];
  const server = ServingProcess.fork((reply) => {
    if (reply.type === 'batch') {
      if (measuring && reply.paddedSize === largestBatchSize && reply.finalAtMs.length > 0) {
        batchMs.push(Math.max(...reply.finalAtMs) - reply.startedAtMs);
      }
      return;
    }
    if (reply.type !== 'releases') return;
    let done = 0;
    for (const release of reply.releases) if (release.kind !== 'early') done++;
    inFlight -= done;
    if (measuring) answers += done;
    if (running) send(done);
  });
  const send = (count: number): void => {
    const now = Date.now();
    const requests = Array.from({ length: count }, () => {
      const i = sequence++;
      return {
        requestId: `c${i}`,
        enqueuedAtMs: now,
        deadlineAtMs: now + FAR_DEADLINE_MS,
        input: inputs[i % inputs.length] as RequestInput,
      };
    });
    inFlight += count;
    server.send(requests);
  };
  try {
    await server.serve({
      bundleDir: options.bundleDir,
      model: options.model,
      config: PLAIN_CONFIG,
      configPollMs: 3_600_000,
      warmupInputs: [...options.warmupInputs],
      layout: options.layout,
    });
    const lanes = resolveThreadLayout(options.layout, 'cpu').inferenceThreads;
    send(2 * largestBatchSize * lanes);
    await sleep(SETTLE_MS);
    const readings: CapacityResult[] = [];
    for (let reading = 0; reading < (options.readings ?? 1); reading++) {
      answers = 0;
      batchMs.length = 0;
      measuring = true;
      const began = performance.now();
      await sleep(options.seconds * 1000);
      const elapsedS = (performance.now() - began) / 1000;
      measuring = false;
      readings.push({
        rps: answers / elapsedS,
        largestBatchMs: batchMs.length > 0 ? median(batchMs) : Number.NaN,
        largestBatchSize,
      });
    }
    running = false;
    const until = performance.now() + DRAIN_TIMEOUT_MS;
    while (inFlight > 0 && performance.now() < until && server.failed === undefined) await sleep(5);
    if (server.failed !== undefined) throw server.failed;
    await server.stop();
    const best = readings.reduce((a, b) => (b.rps > a.rps ? b : a));
    return { ...best, readingsRps: readings.map((r) => r.rps) };
  } finally {
    server.kill();
  }
}
