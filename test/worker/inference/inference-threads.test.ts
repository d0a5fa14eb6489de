import { rmSync } from 'node:fs';
import type { RampConfig } from '../../../core/control/ramp-config';
import { InputError } from '../../../core/errors';
import { InferenceEngine } from '../../../gpu-worker/inference/inference-engine';
import {
  MNIST_THREE_RAMPS,
  maxAbsDiff,
  observeRun,
  prepareFixtureBundle,
  servingFeeds,
  type FixtureBundle,
} from './engine-fixtures';

/** An engine with several inference threads, on the real mnist-resnet bundle. */
describe('an inference engine with two inference threads', () => {
  let fixture: FixtureBundle;
  let engine: InferenceEngine;
  let reference: InferenceEngine;
  let initial: RampConfig;
  const newer = MNIST_THREE_RAMPS;

  beforeAll(async () => {
    fixture = await prepareFixtureBundle('mnist-resnet');
    initial = fixture.bundle.manifest.initialConfig;
    reference = await InferenceEngine.start({ bundleDir: fixture.bundle.dir, config: initial });
  });

  beforeEach(async () => {
    engine = await InferenceEngine.start({
      bundleDir: fixture.bundle.dir,
      config: initial,
      inferenceThreads: 2,
      intraOpThreads: 1,
    });
  });

  afterEach(async () => {
    await engine.close();
  });

  afterAll(async () => {
    await reference.close();
    if (fixture) rmSync(fixture.workDir, { recursive: true, force: true });
  });

  it('answers batches submitted together like a one-thread engine, each with its own ramps', async () => {
    // Given six batches submitted at once to two threads
    expect(engine.inferenceThreads).toBe(2);
    const runs = await Promise.all(
      [0, 1, 2, 3, 4, 5].map((i) => observeRun(engine, servingFeeds(fixture, i * 8, 8), 8)),
    );

    // Then each batch's final answer and ramp outputs match the one-thread engine's for the same inputs
    for (const [i, run] of runs.entries()) {
      const alone = await observeRun(reference, servingFeeds(fixture, i * 8, 8), 8);
      expect(maxAbsDiff(run.logits, alone.logits)).toBeLessThanOrEqual(1e-4);
      expect(run.events.map((event) => event.candidateId)).toEqual(alone.events.map((e) => e.candidateId));
      run.events.forEach((event, r) => {
        expect(maxAbsDiff(event.probs, alone.events[r]?.probs ?? new Float32Array())).toBeLessThanOrEqual(
          1e-4,
        );
      });
    }
  });

  it('switches every thread to a new ramp set after the batches already submitted', async () => {
    // Given four batches in flight, spread over both threads
    const before = [0, 1, 2, 3].map((i) => observeRun(engine, servingFeeds(fixture, i * 8, 8), 8));

    // When a config with another ramp set is swapped in
    await engine.swapConfig(newer);

    // Then the earlier batches ran on the old ramps, and every later batch, on either thread, on the new
    const initialIds = initial.ramps.map((ramp) => ramp.id);
    for (const run of await Promise.all(before)) {
      expect(run.events.map((event) => event.candidateId)).toEqual(initialIds);
    }
    const after = await Promise.all(
      [0, 1, 2, 3].map((i) => observeRun(engine, servingFeeds(fixture, i * 8, 8), 8)),
    );
    for (const run of after) expect(run.events.map((event) => event.candidateId)).toEqual(['c0', 'c2', 'c5']);
    expect(engine.config).toEqual(newer);
  });

  it('refuses a thread count outside 1 to 64, naming what is allowed', async () => {
    // When an engine is asked for no inference thread, or a fractional count
    for (const inferenceThreads of [0, 1.5, 65]) {
      const start = InferenceEngine.start({
        bundleDir: fixture.bundle.dir,
        config: initial,
        inferenceThreads,
      });

      // Then it refuses before starting any thread
      await expect(start).rejects.toThrow(InputError);
      await expect(start).rejects.toThrow(/inferenceThreads must be an integer from 1 to 64/);
    }
  });
});
