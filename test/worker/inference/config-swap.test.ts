import { rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
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

describe('swapping the ramp config of a running inference engine', () => {
  let fixture: FixtureBundle;
  let engine: InferenceEngine;
  let initial: RampConfig;
  let initialIds: string[];
  const newer = MNIST_THREE_RAMPS;

  beforeAll(async () => {
    fixture = await prepareFixtureBundle('mnist-resnet');
    initial = fixture.bundle.manifest.initialConfig;
    initialIds = initial.ramps.map((ramp) => ramp.id);
    // Prepared bundles start at version 0; the swaps below must change the ramp set to mean anything.
    if (initial.version !== 0 || initialIds.join() === 'c0,c2,c5') {
      throw new Error(`unexpected initial config ${JSON.stringify(initial)}; these tests assume another`);
    }
  });

  beforeEach(async () => {
    engine = await InferenceEngine.start({ bundleDir: fixture.bundle.dir, config: initial });
  });

  afterEach(async () => {
    await engine.close();
  });

  afterAll(() => {
    if (fixture) rmSync(fixture.workDir, { recursive: true, force: true });
  });

  it('serves the next batch with the ramps of a valid newer config', async () => {
    // Given a batch served under the initial config
    const before = await observeRun(engine, servingFeeds(fixture, 0, 8), 8);
    expect(before.events.map((event) => event.candidateId)).toEqual(initialIds);

    // When a newer config is swapped in
    await engine.swapConfig(newer);

    // Then the same inputs report the new config's ramps, with the same final answer
    const after = await observeRun(engine, servingFeeds(fixture, 0, 8), 8);
    expect(after.events.map((event) => event.candidateId)).toEqual(['c0', 'c2', 'c5']);
    expect(after.timings.servedBy).toBe('taps');
    expect(maxAbsDiff(after.logits, before.logits)).toBeLessThanOrEqual(1e-4);
    expect(engine.config).toEqual(newer);
  });

  it.each([
    ['an equal version', { ...newer, version: 0 }, /version 0 is not newer than the current version 0/],
    ['an unknown candidate', { version: 2, ramps: [{ id: 'c42', threshold: 0 }] }, /unknown candidate c42/],
    [
      'ramps out of order',
      {
        version: 2,
        ramps: [
          { id: 'c3', threshold: 0 },
          { id: 'c1', threshold: 0 },
        ],
      },
      /lists c1 after c3; list each ramp once, shallow to deep/,
    ],
    ['a threshold above 1', { version: 2, ramps: [{ id: 'c1', threshold: 1.5 }] }, /ramps\.0\.threshold/],
  ])('refuses a config with %s and keeps serving the current one', async (_case, config, message) => {
    // Given an engine serving the initial config

    // When a bad config is offered
    const swap = engine.swapConfig(config);

    // Then it is refused with what is wrong, and the current config still serves
    await expect(swap).rejects.toThrow(InputError);
    await expect(swap).rejects.toThrow(message);
    expect(engine.config).toEqual(initial);
    const next = await observeRun(engine, servingFeeds(fixture, 0, 4), 4);
    expect(next.events.map((event) => event.candidateId)).toEqual(initialIds);
  });

  it('refuses an older version once a newer one serves', async () => {
    // Given version 1 serving
    await engine.swapConfig(newer);

    // When version 1 is offered again, or anything older
    const again = engine.swapConfig(newer);

    // Then it is refused and version 1 keeps serving
    await expect(again).rejects.toThrow(/version 1 is not newer than the current version 1/);
    expect(engine.config.version).toBe(1);
  });

  it('finishes batches already submitted on the old config before switching', async () => {
    // Given four batches already submitted
    const inFlight = [0, 1, 2, 3].map((i) => observeRun(engine, servingFeeds(fixture, i * 8, 8), 8));

    // When a newer config is swapped in
    const swapDoneAt = await engine.swapConfig(newer).then(() => performance.now());

    // Then each of them completed, on the old config's ramps, before the swap did
    for (const run of await Promise.all(inFlight)) {
      expect(run.events.map((event) => event.candidateId)).toEqual(initialIds);
      expect(run.resolvedAtMs).toBeLessThanOrEqual(swapDoneAt);
    }
    // And the next batch runs on the new config
    const next = await observeRun(engine, servingFeeds(fixture, 0, 8), 8);
    expect(next.events.map((event) => event.candidateId)).toEqual(['c0', 'c2', 'c5']);
  });

  it('takes a config that only changes thresholds at once, without building sessions', async () => {
    // Given batches already running on the initial config
    const inFlight = [0, 1].map((i) => observeRun(engine, servingFeeds(fixture, i * 8, 8), 8));
    let settled = 0;
    for (const run of inFlight) void run.then(() => (settled += 1));

    // When a newer config with the same ramps and other thresholds is swapped in
    const retuned: RampConfig = {
      version: 1,
      ramps: initial.ramps.map((ramp, i) => ({ id: ramp.id, threshold: 0.01 * (i + 1) })),
    };
    await engine.swapConfig(retuned);

    // Then it serves before those batches have even finished (no sessions were built for it)
    expect(settled).toBe(0);
    expect(engine.config).toEqual(retuned);
    await Promise.all(inFlight);
    const next = await observeRun(engine, servingFeeds(fixture, 0, 8), 8);
    expect(next.events.map((event) => event.candidateId)).toEqual(initialIds);
  });

  it('keeps serving on the current config while a new one is being built', async () => {
    // Given a swap just started (its sessions take a while to build and warm)
    const swapStarted = performance.now();
    const swap = engine.swapConfig(newer).then(() => performance.now());

    // When a batch arrives during the build
    const submitted = performance.now();
    const run = await observeRun(engine, servingFeeds(fixture, 16, 8), 8);
    const swapDoneAt = await swap;

    // Then it was served on the current config, without waiting for the build to finish
    const waitedMs = run.resolvedAtMs - submitted;
    const swapMs = swapDoneAt - swapStarted;
    process.stdout.write(
      `swap took ${swapMs.toFixed(0)} ms; a batch submitted during it took ${waitedMs.toFixed(0)} ms\n`,
    );
    expect(run.events.map((event) => event.candidateId)).toEqual(initialIds);
    expect(waitedMs).toBeLessThan(0.5 * swapMs);
  });

  it('abandons a swap that is still being built when the engine closes', async () => {
    // Given a swap whose sessions are being built
    const swap = engine.swapConfig(newer);
    await new Promise((resolve) => setTimeout(resolve, 20));

    // When the engine closes before it completes
    const closed = engine.close();

    // Then the swap rejects, and the engine closes cleanly
    await expect(swap).rejects.toThrow(/clos/);
    await expect(closed).resolves.toBeUndefined();
  });
});
