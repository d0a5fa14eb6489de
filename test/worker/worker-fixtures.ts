/**
 * Shared pieces of the worker tests: a real fixture bundle (prepared now into a temporary
 * directory, with a deterministic latency profile), real serving
 * inputs as request bodies, a callback sink that records every answer, and a logger that keeps its
 * lines for assertions.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { InferenceRequest } from '../../adapters/queue/request-queue';
import { readBundle, writeBundle, type LoadedBundle } from '../../core/bundle/bundle-io';
import { sampleAt, type DataSplit } from '../../core/data/dataset';
import { createBatchEncoder } from '../../core/inference/batch-encoding';
import { openSession } from '../../core/inference/onnx-session';
import { prepareDeterministicFixture } from '../support/deterministic-profile';
import { loadFixtureModel, loadModelData, ZOO_MODELS_DIR } from '../../core/zoo/fixtures';
import { argmax } from '../../core/util/stats';
import type { Logger, LogLevel } from '../../gpu-worker/logger';
import { CallbackResultSink, type SinkEvent } from '../../gpu-worker/result-sink';

export interface WorkerFixture {
  readonly bundle: LoadedBundle;
  readonly serving: DataSplit;
}

/**
 * A hash of everything a prepared fixture bundle depends on (the model files and the sources of
 * the preparation), so a cached bundle is reused only while it is what preparing now would give.
 */
function preparationKey(name: string): string {
  const hash = createHash('sha256');
  const root = join(__dirname, '..', '..');
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory() ? files(join(dir, entry.name)) : [join(dir, entry.name)],
    );
  const inputs = [
    ...files(join(ZOO_MODELS_DIR, name)),
    ...['prepare', 'onnx', 'ramps', 'bundle', 'inference'].flatMap((dir) => files(join(root, 'core', dir))),
    join(root, 'test', 'support', 'deterministic-profile.ts'),
  ].sort();
  for (const file of inputs) hash.update(file).update(readFileSync(file));
  return hash.digest('hex').slice(0, 16);
}

/**
 * The fixture model's bundle and serving stream. Preparing takes most of a minute on a loaded
 * two-core machine, so the bundle is kept in the temporary directory under a key of its inputs
 * and shared by every worker test file (written atomically, so parallel files never see half).
 */
export async function workerFixture(name: string): Promise<WorkerFixture> {
  const dir = join(tmpdir(), 'apparate-worker-fixtures', `${name}-${preparationKey(name)}`);
  if (existsSync(join(dir, 'manifest.json'))) {
    try {
      const bundle = await readBundle(dir);
      return { bundle, serving: await loadModelData(await loadFixtureModel(name), 'serving') };
    } catch {
      // A damaged cache entry is prepared again below, into a fresh directory.
    }
  }
  // A deterministic latency profile keeps the initial ramp set the same on every machine.
  const { serving, prepared } = await prepareDeterministicFixture(name);
  const fresh = join(mkdtempSync(join(tmpdir(), `apparate-worker-${name}-`)), 'bundle');
  await writeBundle(fresh, prepared);
  try {
    mkdirSync(dirname(dir), { recursive: true });
    renameSync(fresh, dir);
    return { bundle: await readBundle(dir), serving };
  } catch {
    // Another test file cached it first (or the cache is not writable): use this one.
    return { bundle: await readBundle(fresh), serving };
  }
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
