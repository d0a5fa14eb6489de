/**
 * Shared pieces of the worker tests: a real fixture bundle (with a deterministic latency profile,
 * prepared once a run), real serving inputs as request bodies, a callback sink that records every
 * answer, and a logger that keeps its lines for assertions.
 */
import type { InferenceRequest } from '../../adapters/queue/request-queue';
import type { LoadedBundle } from '../../core/bundle/bundle-io';
import { sampleAt, type DataSplit } from '../../core/data/dataset';
import { createBatchEncoder } from '../../core/inference/batch-encoding';
import { openSession } from '../../core/inference/onnx-session';
import { prepareDeterministicFixture } from '../support/deterministic-profile';
import { argmax } from '../../core/util/stats';
import type { Logger, LogLevel } from '../../gpu-worker/logger';
import { CallbackResultSink, type SinkEvent } from '../../gpu-worker/result-sink';

export interface WorkerFixture {
  readonly bundle: LoadedBundle;
  readonly serving: DataSplit;
}

/**
 * The fixture model's bundle (deterministic profile, from the run's shared cache: see
 * test/support/fixture-cache.ts) and its serving stream.
 */
export async function workerFixture(name: string): Promise<WorkerFixture> {
  const { serving, prepared } = await prepareDeterministicFixture(name);
  return { bundle: prepared, serving };
}

/** The request body's input for serving sample `index`, as an API client would send it. */
export function servingInput(fixture: WorkerFixture, index: number): unknown {
  const sample = sampleAt(fixture.serving, index % fixture.serving.count);
  return sample.kind === 'image' ? Array.from(sample.pixels) : sample.text;
}

/** A well-formed request for serving sample `index`. */
export function servingRequest(
  fixture: WorkerFixture,
  index: number,
  overrides: Partial<InferenceRequest> = {},
): InferenceRequest {
  const now = Date.now();
  return {
    requestId: `req-${index}`,
    model: fixture.bundle.manifest.model.name,
    enqueuedAtMs: now,
    deadlineAtMs: now + 60_000,
    input: servingInput(fixture, index),
    mode: 'async',
    ...overrides,
  };
}

/** The plain model's predicted class for each serving sample, from one session over the original file. */
export async function directPredictions(
  fixture: WorkerFixture,
  indices: readonly number[],
): Promise<number[]> {
  const session = await openSession(fixture.bundle.modelPath);
  const spec = fixture.bundle.manifest.model.spec;
  const feeds = createBatchEncoder(spec).encode(
    indices.map((i) => sampleAt(fixture.serving, i % fixture.serving.count)),
  );
  const output = (await session.run(feeds))[session.outputNames[0] as string];
  await session.release();
  if (!output) throw new Error('the plain model gave no output');
  const width = spec.classes.length;
  return indices.map((_, row) => argmax(output.data, row * width, width));
}

/** A sink that records every answer, with a way to wait for a number of final-or-error answers. */
export function recordingSink(): {
  sink: CallbackResultSink;
  events: SinkEvent[];
  settled: (count: number, timeoutMs?: number) => Promise<void>;
} {
  const events: SinkEvent[] = [];
  const sink = new CallbackResultSink((event) => {
    events.push(event);
  });
  const settled = async (count: number, timeoutMs = 30_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    const answered = (): number =>
      new Set(events.filter((e) => e.kind !== 'early').map((e) => e.requestId)).size;
    while (answered() < count) {
      if (Date.now() > deadline) throw new Error(`only ${answered()} of ${count} requests answered in time`);
      await new Promise((done) => setTimeout(done, 20));
    }
  };
  return { sink, events, settled };
}

/** A logger that keeps its lines. */
export function memoryLogger(): {
  logger: Logger;
  lines: { level: LogLevel; message: string; fields: Record<string, unknown> }[];
} {
  const lines: { level: LogLevel; message: string; fields: Record<string, unknown> }[] = [];
  return { logger: { log: (level, message, fields = {}) => lines.push({ level, message, fields }) }, lines };
}
