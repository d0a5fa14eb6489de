/**
 * The in-process worker the evaluation drives: started on the in-memory queue with a callback
 * sink and an in-memory config store the harness publishes to, warmed up, and stopped. Serving
 * runs (worker-run.ts) and capacity measurement (capacity.ts) share it.
 */
import { performance } from 'node:perf_hooks';
import { MemoryRequestQueue } from '../../adapters/queue';
import type { RampConfig } from '../../core/control/ramp-config';
import {
  ApparateWorker,
  type BatchReport,
  CallbackResultSink,
  silentLogger,
  type SinkEvent,
  type ThreadLayout,
} from '../../gpu-worker';
import type { RequestInput } from './workload';

/** Longest a run waits for its last answers after the last arrival. */
export const DRAIN_TIMEOUT_MS = 60_000;
export const FAR_DEADLINE_MS = 600_000;

export function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

export interface StartedWorker {
  readonly worker: ApparateWorker;
  readonly queue: MemoryRequestQueue;
  setListener(listener: (event: SinkEvent) => void): void;
  setOnBatch(onBatch: (report: BatchReport) => void): void;
  publish(config: RampConfig): void;
}

export async function startWorker(
  bundleDir: string,
  model: string,
  config: RampConfig,
  configPollMs: number,
  layout: ThreadLayout = {},
): Promise<StartedWorker> {
  const queue = new MemoryRequestQueue();
  let listener: (event: SinkEvent) => void = () => undefined;
  let onBatch: (report: BatchReport) => void = () => undefined;
  let published = config;
  const worker = await ApparateWorker.start({
    bundleDir,
    queue,
    sink: new CallbackResultSink((event) => listener(event)),
    config,
    configStore: {
      latest: () => Promise.resolve({ model, config: published, publishedAtMs: 0 }),
    },
    configPollMs,
    modelId: model,
    logger: silentLogger,
    onBatch: (report) => onBatch(report),
    ...layout,
  });
  return {
    worker,
    queue,
    setListener: (next) => (listener = next),
    setOnBatch: (next) => (onBatch = next),
    publish: (next) => (published = next),
  };
}

export async function stopWorker(started: StartedWorker): Promise<void> {
  await started.worker.stop();
  await started.queue.close();
}

/** Serves `warmupInputs` with a far deadline and waits for their answers. */
export async function warmUp(
  started: StartedWorker,
  model: string,
  inputs: readonly RequestInput[],
): Promise<void> {
  let pending = inputs.length;
  started.setListener((event) => {
    if (event.kind !== 'early') pending -= 1;
  });
  const now = Date.now();
  await Promise.all(
    inputs.map((input, i) =>
      started.queue.send({
        requestId: `w${i}`,
        model,
        enqueuedAtMs: now,
        deadlineAtMs: now + FAR_DEADLINE_MS,
        input,
        mode: 'async',
      }),
    ),
  );
  const until = performance.now() + DRAIN_TIMEOUT_MS;
  while (pending > 0 && performance.now() < until) await sleep(5);
}
