import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { writeBundle, readBundle, type LoadedBundle } from '../../../core/bundle/bundle-io';
import type { RampConfig } from '../../../core/control/ramp-config';
import { InputError } from '../../../core/errors';
import { InferenceEngine } from '../../../gpu-worker/inference/inference-engine';
import {
  copyFeeds,
  maxAbsDiff,
  observeRun,
  prepareFixtureBundle,
  referenceOutputs,
  servingFeeds,
  type FixtureBundle,
  type ObservedRun,
  type Reference,
} from './engine-fixtures';

const REPO_ROOT = resolve(__dirname, '..', '..', '..');

/** Checks every ramp event of a run against the reference, row by row. */
function expectRampsMatch(run: ObservedRun, reference: Reference, rows: number, classes: number): void {
  for (const event of run.events) {
    const expected = reference.ramps.get(event.candidateId) ?? [];
    expect(event.probs).toHaveLength(rows * classes);
    for (let row = 0; row < rows; row++) {
      const probs = event.probs.subarray(row * classes, (row + 1) * classes);
      const want = expected[row];
      expect(probs.reduce((sum, p) => sum + p, 0)).toBeCloseTo(1, 5);
      // The reference's top class carries the reference's confidence here too.
      expect(Math.abs((probs[want?.prediction ?? -1] ?? -1) - (want?.confidence ?? 2))).toBeLessThanOrEqual(
        1e-4,
      );
    }
  }
}

describe('inference engine on the spam-bert bundle', () => {
  let fixture: FixtureBundle;
  let classes: number;
  /** The same bundle with one ramp switched to the masked-mean member (same feature size). */
  let meanBundle: LoadedBundle;
  const meanCandidate = 'c2';

  beforeAll(async () => {
    fixture = await prepareFixtureBundle('spam-bert');
    classes = fixture.bundle.manifest.model.spec.classes.length;
    const { manifest } = fixture.prepared;
    const candidates = manifest.candidates.map((candidate) =>
      candidate.id === meanCandidate
        ? { ...candidate, ramp: { ...candidate.ramp, member: 'mean' as const } }
        : candidate,
    );
    await writeBundle(join(fixture.workDir, 'mean-bundle'), {
      ...fixture.prepared,
      manifest: { ...manifest, candidates },
    });
    meanBundle = await readBundle(join(fixture.workDir, 'mean-bundle'));
  });

  afterAll(() => {
    if (fixture) rmSync(fixture.workDir, { recursive: true, force: true });
  });

  it('answers int64 token batches like the plain model, and each ramp like the reference', async () => {
    // Given the initial config and 6 real messages padded to a batch of 8
    const engine = await InferenceEngine.start({
      bundleDir: fixture.bundle.dir,
      config: fixture.bundle.manifest.initialConfig,
    });
    try {
      const rampIds = engine.config.ramps.map((ramp) => ramp.id);
      const feeds = servingFeeds(fixture, 40, 6, 8);
      expect(feeds.input_ids?.data).toBeInstanceOf(BigInt64Array);
      const reference = await referenceOutputs(fixture.bundle, copyFeeds(feeds), 6, rampIds);

      // When the engine runs it
      const run = await observeRun(engine, feeds, 6);

      // Then the logits are the plain model's and every ramp matches the reference, in order
      expect(maxAbsDiff(run.logits, reference.logits)).toBeLessThanOrEqual(1e-4);
      expect(run.events.map((event) => event.candidateId)).toEqual(rampIds);
      expectRampsMatch(run, reference, 6, classes);
    } finally {
      await engine.close();
    }
  });

  it('passes the attention mask to a masked-mean ramp in a middle segment', async () => {
    // Given a bundle whose c2 ramp averages the tokens the mask keeps, between two other ramps
    const config: RampConfig = {
      version: 3,
      ramps: ['c1', meanCandidate, 'c4'].map((id) => ({ id, threshold: 0.05 })),
    };
    const engine = await InferenceEngine.start({ bundleDir: meanBundle.dir, config });
    try {
      const feeds = servingFeeds(fixture, 7, 5, 8);
      const reference = await referenceOutputs(meanBundle, copyFeeds(feeds), 5, ['c1', meanCandidate, 'c4']);

      // When a batch of messages of different lengths runs
      const run = await observeRun(engine, feeds, 5);

      // Then the mean ramp's probabilities are those of the masked mean of the unsliced model
      // (a mean over padding tokens would differ), and the other ramps and the logits still match
      expect(run.events.map((event) => event.candidateId)).toEqual(['c1', meanCandidate, 'c4']);
      expectRampsMatch(run, reference, 5, classes);
      expect(maxAbsDiff(run.logits, reference.logits)).toBeLessThanOrEqual(1e-4);
    } finally {
      await engine.close();
    }
  });

  it('refuses token ids of the wrong dtype, naming the input and what it takes', async () => {
    // Given token ids sent as float32
    const engine = await InferenceEngine.start({
      bundleDir: fixture.bundle.dir,
      config: fixture.bundle.manifest.initialConfig,
    });
    try {
      const feeds = servingFeeds(fixture, 0, 2);
      const ids = feeds.input_ids;
      if (!ids) throw new Error('the spam-bert feeds have no input_ids');
      feeds.input_ids = { dtype: 'float32', data: Float32Array.from(ids.data, Number), dims: ids.dims };

      // When the batch is submitted
      const refused = engine.run(feeds, 2, () => undefined);

      // Then it is refused as bad input, and the engine serves the next batch
      await expect(refused).rejects.toThrow(InputError);
      await expect(refused).rejects.toThrow(
        /input input_ids is \[2,128\] float32; the model takes \[batch,128\] int64/,
      );
      expect((await engine.run(servingFeeds(fixture, 0, 2), 2, () => undefined)).logits).toHaveLength(
        2 * classes,
      );
    } finally {
      await engine.close();
    }
  });

  it('refuses work after close, and closes more than once without harm', async () => {
    // Given an engine that served a batch and was closed
    const engine = await InferenceEngine.start({
      bundleDir: fixture.bundle.dir,
      config: fixture.bundle.manifest.initialConfig,
    });
    await engine.run(servingFeeds(fixture, 0, 1), 1, () => undefined);
    await engine.close();

    // When it is used again
    const run = engine.run(servingFeeds(fixture, 0, 1), 1, () => undefined);
    const swap = engine.swapConfig({ version: 9, ramps: [] });

    // Then it says it is closed, and a second close is a no-op
    await expect(run).rejects.toThrow('the inference engine is closed');
    await expect(swap).rejects.toThrow('the inference engine is closed');
    await expect(engine.close()).resolves.toBeUndefined();
  });

  it('runs under plain Node with tsx, and close() leaves nothing that keeps the process alive', async () => {
    // Given a separate Node process started the way the CLI starts (node -r tsx/cjs)
    const script = join(__dirname, 'serve-one-batch.ts');

    // When it starts an engine, serves one batch and closes it, without calling process.exit
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['-r', 'tsx/cjs', script, fixture.bundle.dir],
      { cwd: REPO_ROOT, timeout: 60_000 },
    );

    // Then it served the batch and exited on its own (a left-over handle would hang it until the timeout)
    const served = JSON.parse(stdout) as { ramps: string[]; logits: number };
    expect(served.ramps).toEqual(fixture.bundle.manifest.initialConfig.ramps.map((ramp) => ramp.id));
    expect(served.logits).toBe(3 * classes);
  });
});
