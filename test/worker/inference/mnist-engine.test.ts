import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { InputError } from '../../../core/errors';
import { openSession } from '../../../core/inference/onnx-session';
import { InferenceEngine } from '../../../gpu-worker/inference/inference-engine';
import {
  argmaxAt,
  copyFeeds,
  maxAbsDiff,
  observeRun,
  prepareFixtureBundle,
  referenceOutputs,
  servingFeeds,
  type FixtureBundle,
} from './engine-fixtures';

describe('inference engine on the mnist-resnet bundle', () => {
  let fixture: FixtureBundle;
  let engine: InferenceEngine;
  let classes: number;

  beforeAll(async () => {
    fixture = await prepareFixtureBundle('mnist-resnet');
    classes = fixture.bundle.manifest.model.spec.classes.length;
    engine = await InferenceEngine.start({
      bundleDir: fixture.bundle.dir,
      config: fixture.bundle.manifest.initialConfig,
    });
  });

  afterAll(async () => {
    await engine?.close();
    if (fixture) rmSync(fixture.workDir, { recursive: true, force: true });
  });

  it('answers a batch of 8 like the plain model, and each ramp like the TypeScript reference', async () => {
    // Given the bundle's initial config and a batch of 8 serving inputs
    const rampIds = fixture.bundle.manifest.initialConfig.ramps.map((ramp) => ramp.id);
    expect(rampIds.length).toBeGreaterThan(0);
    const feeds = servingFeeds(fixture, 0, 8);
    const reference = await referenceOutputs(fixture.bundle, copyFeeds(feeds), 8, rampIds);

    // When the engine runs it
    const run = await observeRun(engine, feeds, 8);

    // Then the final logits are the plain model's
    expect(run.logits).toHaveLength(8 * classes);
    expect(maxAbsDiff(run.logits, reference.logits)).toBeLessThanOrEqual(1e-4);
    // And every active ramp reported once, with each row a probability distribution whose top class
    // and confidence are what the bundle's weights give on the unsliced model's pooled features
    expect(run.events.map((event) => event.candidateId)).toEqual(rampIds);
    for (const event of run.events) {
      const expected = reference.ramps.get(event.candidateId) ?? [];
      expect(event.probs).toHaveLength(8 * classes);
      for (let row = 0; row < 8; row++) {
        const probs = event.probs.subarray(row * classes, (row + 1) * classes);
        expect(probs.reduce((sum, p) => sum + p, 0)).toBeCloseTo(1, 5);
        expect(argmaxAt(probs, 0, classes)).toBe(expected[row]?.prediction);
        expect(Math.abs(Math.max(...probs) - (expected[row]?.confidence ?? -1))).toBeLessThanOrEqual(1e-4);
      }
    }
    // And it was served as one run of the whole model, its ramps tapped
    expect(run.timings.servedBy).toBe('taps');
    expect(run.timings.segmentMs).toHaveLength(1);
  });

  it('serves the model cut at its ramps where exit taps are turned off, with the same answers', async () => {
    // Given a second engine with exit taps turned off
    const rampIds = fixture.bundle.manifest.initialConfig.ramps.map((ramp) => ramp.id);
    const cut = await InferenceEngine.start({
      bundleDir: fixture.bundle.dir,
      config: fixture.bundle.manifest.initialConfig,
      exitTaps: false,
    });
    try {
      // When both engines run the same batch
      const tapped = await observeRun(engine, servingFeeds(fixture, 0, 8), 8);
      const segmented = await observeRun(cut, servingFeeds(fixture, 0, 8), 8);

      // Then the second ran one segment per ramp and one more, said why, and answered alike
      expect(cut.servedBy.kind).toBe('segments');
      expect(cut.servedBy.kind === 'segments' ? cut.servedBy.reason : '').toContain('exitTaps');
      expect(engine.servedBy).toEqual({ kind: 'taps' });
      expect(segmented.timings.servedBy).toBe('segments');
      expect(segmented.timings.segmentMs).toHaveLength(rampIds.length + 1);
      expect(maxAbsDiff(segmented.logits, tapped.logits)).toBeLessThanOrEqual(1e-4);
      expect(segmented.events.map((event) => event.candidateId)).toEqual(rampIds);
      segmented.events.forEach((event, index) =>
        expect(
          maxAbsDiff(event.probs, tapped.events[index]?.probs ?? new Float32Array()),
        ).toBeLessThanOrEqual(1e-5),
      );
    } finally {
      await cut.close();
    }
  });

  it('releases ramp outputs while the batch is still running, shallow to deep', async () => {
    // Given a batch of 32 padded serving inputs, 30 of them real
    const feeds = servingFeeds(fixture, 100, 30, 32);

    // When the engine runs it
    const run = await observeRun(engine, feeds, 30);

    // Then the ramp events came in config order, each before the batch's promise settled
    expect(run.events.map((event) => event.rampIndex)).toEqual(run.events.map((_, index) => index));
    expect(run.settledAtEvent.every((settled) => !settled)).toBe(true);
    const arrivals = run.events.map((event) => event.atMs);
    expect([...arrivals].sort((a, b) => a - b)).toEqual(arrivals);
    // And the first ramp's answer was on the main thread while the model after it still ran: it
    // arrived well before the end, by at least half of the time the rest of the model takes
    const first = run.events[0];
    const position =
      fixture.bundle.manifest.candidates.find((c) => c.id === first?.candidateId)?.latencyFraction ?? 1;
    const laterMs = (1 - position) * run.timings.totalMs;
    expect(first?.atMs).toBeLessThanOrEqual(run.resolvedAtMs - 0.5 * laterMs);
    // And only the real rows are reported
    expect(first?.probs).toHaveLength(30 * classes);
    expect(run.logits).toHaveLength(30 * classes);
  });

  it('with the batch thresholds, posts mid-run only the ramp outputs that release a row', async () => {
    // Given a batch of 16 serving inputs, and its ramp outputs without thresholds as the reference
    const ramps = fixture.bundle.manifest.initialConfig.ramps.length;
    expect(ramps).toBeGreaterThanOrEqual(2);
    const reference = await observeRun(engine, servingFeeds(fixture, 400, 16), 16);

    // When it runs with thresholds no row can pass (0), and with the first ramp releasing every row
    const none = await observeRun(engine, servingFeeds(fixture, 400, 16), 16, Array<number>(ramps).fill(0));
    const first = await observeRun(engine, servingFeeds(fixture, 400, 16), 16, [
      1,
      ...Array<number>(ramps - 1).fill(0.5),
    ]);

    // Then every ramp is still reported once, in order, with the same probabilities, before the
    // batch's promise settles
    for (const run of [none, first]) {
      expect(run.events.map((event) => event.candidateId)).toEqual(
        reference.events.map((e) => e.candidateId),
      );
      run.events.forEach((event, index) =>
        expect(maxAbsDiff(event.probs, reference.events[index]?.probs ?? new Float32Array())).toBe(0),
      );
      expect(run.settledAtEvent.every((settled) => !settled)).toBe(true);
    }
    // And with nothing released, all of them came together with the final logits
    expect(new Set(none.events.map((event) => event.atMs)).size).toBe(1);
    expect(none.timings.rampsPostedMidRun).toBe(0);
    expect(reference.timings.rampsPostedMidRun).toBe(ramps);
    // And with every row released at the first ramp, that one came mid-run, the others (which
    // could release nothing more) with the final logits, after it
    const [head, ...rest] = first.events;
    expect(new Set(rest.map((event) => event.atMs)).size).toBe(1);
    expect(head?.atMs).toBeLessThan(rest[0]?.atMs ?? -Infinity);
    expect(first.timings.rampsPostedMidRun).toBe(1);
  });

  it('keeps the main event loop running while a batch of 32 runs', async () => {
    // Given a 1 ms interval counting ticks, and the same batch run on the main thread as a control
    const plain = await openSession(fixture.bundle.modelPath);
    const controlFeeds = servingFeeds(fixture, 200, 32);
    await plain.run(controlFeeds);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    try {
      const before = ticks;
      await plain.run(controlFeeds);
      const mainThreadTicks = ticks - before;

      // When the engine runs a batch of 32
      const start = ticks;
      const began = performance.now();
      await engine.run(servingFeeds(fixture, 200, 32), 32, () => undefined);
      const engineTicks = ticks - start;
      const runMs = performance.now() - began;

      // Then the counter advanced during the run, unlike during the main-thread run
      process.stdout.write(
        `batch of 32: ${engineTicks} ticks in ${runMs.toFixed(1)} ms through the engine; ${mainThreadTicks} on the main thread\n`,
      );
      expect(engineTicks).toBeGreaterThanOrEqual(3);
      expect(engineTicks).toBeGreaterThan(mainThreadTicks);
    } finally {
      clearInterval(timer);
      await plain.release();
    }
  });

  it('takes the feeds by transfer, leaving the caller detached arrays', async () => {
    // Given a batch whose arrays the caller still references
    const feeds = servingFeeds(fixture, 300, 4);
    const pixels = feeds.pixels?.data;
    expect(pixels?.length).toBe(4 * 28 * 28);

    // When it is submitted
    const done = engine.run(feeds, 4, () => undefined);

    // Then its buffer moved to the inference thread at once, and the batch still runs
    expect(pixels?.length).toBe(0);
    expect((await done).logits).toHaveLength(4 * classes);
  });

  it('rejects a batch with a wrong shape clearly and serves the next batch', async () => {
    // Given a batch whose images are 27 pixels wide, and a good batch after it
    const bad = servingFeeds(fixture, 0, 2);
    const pixels = bad.pixels;
    if (!pixels) throw new Error('the mnist feeds have no pixels input');
    bad.pixels = { dtype: 'float32', data: pixels.data.slice(0, 2 * 28 * 27), dims: [2, 1, 28, 27] };
    const events: string[] = [];

    // When both are submitted back to back
    const badRun = engine.run(bad, 2, (event) => events.push(event.candidateId));
    const goodRun = engine.run(servingFeeds(fixture, 0, 2), 2, () => undefined);

    // Then the bad one is refused naming the input and the expected shape, with no ramp events
    await expect(badRun).rejects.toThrow(InputError);
    await expect(badRun).rejects.toThrow(
      /input pixels is \[2,1,28,27\] float32; the model takes \[batch,1,28,28\]/,
    );
    expect(events).toEqual([]);
    // And the good one is served as usual
    expect((await goodRun).logits).toHaveLength(2 * classes);
  });

  it('refuses feeds that miss an input, and rows that do not fit the padded batch', async () => {
    // Given feeds under a wrong name, and a batch of 4 claimed to hold 5 real rows
    const feeds = servingFeeds(fixture, 0, 4);

    // When they are submitted
    const renamed = engine.run({ image: feeds.pixels! }, 4, () => undefined);
    const tooMany = engine.run(servingFeeds(fixture, 0, 4), 5, () => undefined);

    // Then each is refused with what is allowed
    await Promise.all([
      expect(renamed).rejects.toThrow(/feeds name unknown inputs image; the model takes pixels/),
      expect(tooMany).rejects.toThrow(/rows must be an integer from 1 to the padded batch size 4; got 5/),
    ]);
  });

  it('rejects a batch whose ramp listener throws, and keeps serving', async () => {
    // Given a listener that fails on the first ramp event
    const failing = engine.run(servingFeeds(fixture, 0, 2), 2, () => {
      throw new Error('listener broke');
    });

    // Then that batch rejects with the listener's error, and the next batch is served
    await expect(failing).rejects.toThrow('listener broke');
    const next = await observeRun(engine, servingFeeds(fixture, 0, 2), 2);
    expect(next.events).toHaveLength(fixture.bundle.manifest.initialConfig.ramps.length);
  });

  it('refuses to start on a config naming an unknown candidate, or on a missing bundle', async () => {
    // Given a config with a candidate the bundle lacks, and a directory that holds no bundle
    const badConfig = { version: 0, ramps: [{ id: 'c99', threshold: 0 }] };

    // When engines are started on them
    const [unknown, missing] = await Promise.allSettled([
      InferenceEngine.start({ bundleDir: fixture.bundle.dir, config: badConfig }),
      InferenceEngine.start({
        bundleDir: join(fixture.workDir, 'nothing-here'),
        config: fixture.bundle.manifest.initialConfig,
      }),
    ]);

    // Then both refuse with what was wrong
    expect(unknown.status).toBe('rejected');
    const unknownError = (unknown as PromiseRejectedResult).reason as Error;
    expect(unknownError).toBeInstanceOf(InputError);
    expect(unknownError.message).toMatch(/unknown candidate c99; this bundle's candidates are c0, c1/);
    expect(missing.status).toBe('rejected');
    expect(((missing as PromiseRejectedResult).reason as Error).message).toMatch(/nothing-here/);
  });
});
