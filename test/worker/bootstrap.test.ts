import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigStore } from '../../adapters/dynamo/config-store';
import { MemoryRequestQueue } from '../../adapters/queue/memory-queue';
import { readBundle } from '../../core/bundle/bundle-io';
import { loadFixtureModel, loadModelData } from '../../core/zoo/fixtures';
import type { BatchReport } from '../../gpu-worker/batch-execution';
import { BootstrapWorker, capturedStream, wholeStreamFraction } from '../../gpu-worker/bootstrap';
import { startLocalDynamo, type LocalDynamo } from '../adapters/dynamo/local-dynamo';
import {
  directPredictions,
  memoryLogger,
  recordingSink,
  servingRequest,
  type WorkerFixture,
} from './worker-fixtures';

const SAMPLES = 40;

describe('bootstrap mode on mnist-resnet', () => {
  let dynamo: LocalDynamo;

  beforeAll(async () => {
    dynamo = await startLocalDynamo();
  });

  afterAll(async () => {
    await dynamo.close();
  });

  it('serves the plain model, trains ramps on the first inputs, publishes the config and swaps to exits without dropping a request', async () => {
    // Given a model without ramps, a config table, and a bootstrap worker asked for 40 samples
    const model = await loadFixtureModel('mnist-resnet');
    const serving = await loadModelData(model, 'serving');
    const tables = await dynamo.freshTables();
    const configs = new ConfigStore({ client: dynamo.doc, tableName: tables.configs });
    const queue = new MemoryRequestQueue();
    const { sink, events, settled } = recordingSink();
    const reports: BatchReport[] = [];
    const bundleOut = join(mkdtempSync(join(tmpdir(), 'apparate-bootstrap-')), 'bundle');
    const boot = await BootstrapWorker.start({
      model,
      bootstrapSamples: SAMPLES,
      bundleOut,
      queue,
      sink,
      configStore: configs,
      configPublisher: configs,
      configPollMs: 60_000,
      guard: { constraint: 0.95 },
      logger: memoryLogger().logger,
      // The widest budget, and enough timed runs that one noisy run cannot make every cut look
      // dearer than the model, keep ramps in the bundle on any machine: this test is about the swap.
      prepare: { batchSizes: [1, 8, 32], repeats: 5, warmupRuns: 2, sliceCheckSamples: 16, rampBudget: 0.5 },
      onBatch: (report) => reports.push(report),
    });
    // The bundle fixture shape the request helpers expect; only the model name and inputs matter.
    const fixture = {
      bundle: { manifest: { model: { name: model.spec.name } } },
      serving,
    } as unknown as WorkerFixture;
    let sent = 0;
    // Deadlines far beyond the test's own time: on a slow, busy machine the preparation can keep
    // early requests queued for over a minute, and this test is about the swap, not deadlines.
    const send = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++, sent++)
        await queue.send(
          servingRequest(fixture, sent, { requestId: `b-${sent}`, deadlineAtMs: Date.now() + 3_600_000 }),
        );
    };

    // When requests keep arriving while it captures, prepares and swaps
    await send(SAMPLES + 8);
    expect(boot.phase).not.toBe('exits');
    while (boot.phase !== 'exits') {
      await send(4);
      await new Promise((done) => setTimeout(done, 100));
    }
    const worker = await boot.serving;
    await send(32);
    await settled(sent, 60_000);

    // Then the bundle is written, readable, with ramps trained on exactly the captured inputs
    expect(existsSync(join(bundleOut, 'manifest.json'))).toBe(true);
    const bundle = await readBundle(bundleOut);
    expect(bundle.manifest.bootstrap.samples).toBe(SAMPLES);
    expect(bundle.manifest.initialConfig.ramps.length).toBeGreaterThan(0);
    // And its initial config is published, and is what the worker serves
    expect((await configs.latest(model.spec.name))?.config).toEqual(bundle.manifest.initialConfig);
    expect(worker.config).toEqual(bundle.manifest.initialConfig);
    // And the full worker's local guard holds the constraint bootstrap mode was given
    expect(worker.accuracyConstraint).toBe(0.95);
    // And every request got exactly one final answer, the plain model's, across the swap
    expect(events.filter((e) => e.kind === 'error')).toEqual([]);
    const indices = Array.from({ length: sent }, (_, i) => i);
    const expected = await directPredictions({ bundle, serving }, indices);
    for (const i of indices) {
      const finals = events.filter((e) => e.kind === 'final' && e.requestId === `b-${i}`);
      expect(finals).toHaveLength(1);
      expect(finals[0]?.kind === 'final' && finals[0].answer.classIndex).toBe(expected[i]);
    }
    // And the full worker served batches with the trained ramps after the swap
    expect(reports.length).toBeGreaterThan(0);
    expect(reports.every((report) => report.config.ramps.length > 0)).toBe(true);

    // When the controller publishes exiting thresholds and more requests arrive
    await configs.publish(model.spec.name, {
      version: 1,
      ramps: bundle.manifest.initialConfig.ramps.map((ramp) => ({ id: ramp.id, threshold: 0.5 })),
    });
    await worker.checkConfigNow();
    const before = sent;
    await send(64);
    await settled(sent, 60_000);
    await boot.stop();

    // Then some of them are answered early
    const early = events.filter((e) => e.kind === 'early' && Number(e.requestId.slice(2)) >= before);
    expect(early.length).toBeGreaterThan(0);
    expect(await queue.deadLettered()).toEqual([]);
    await queue.close();
  }, 240_000);

  it('refuses too few samples and an existing bundle directory before serving', async () => {
    const model = await loadFixtureModel('mnist-resnet');
    const queue = new MemoryRequestQueue();
    const base = { model, queue, sink: recordingSink().sink, logger: memoryLogger().logger };
    await expect(
      BootstrapWorker.start({ ...base, bootstrapSamples: 5, bundleOut: join(tmpdir(), 'never-written') }),
    ).rejects.toThrow(/at least 20, got 5/);
    await expect(
      BootstrapWorker.start({ ...base, bootstrapSamples: 20, bundleOut: tmpdir() }),
    ).rejects.toThrow(/already exists/);
    await queue.close();
  });

  it('gives the preparation a stream of exactly the captured inputs, labelled with the plain answers', async () => {
    const model = await loadFixtureModel('mnist-resnet');
    const pixels = Array.from({ length: 28 * 28 }, (_, i) => i % 256);
    const stream = capturedStream(
      model,
      [
        { kind: 'image', pixels },
        { kind: 'image', pixels },
      ],
      [3, 4],
    );
    expect(stream.count).toBe(2);
    expect(Array.from(stream.labels)).toEqual([3, 4]);
    for (const count of [20, 40, 200, 1001])
      expect(Math.round(count * wholeStreamFraction(count))).toBe(count);
  });
});
