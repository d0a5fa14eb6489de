import { MemoryRequestQueue } from '../../adapters/queue/memory-queue';
import type { RampConfig } from '../../core/control/ramp-config';
import { CallbackResultSink } from '../../gpu-worker/result-sink';
import { ApparateWorker } from '../../gpu-worker/worker';
import type { BatchReport } from '../../gpu-worker/batch-execution';
import {
  directPredictions,
  memoryLogger,
  recordingSink,
  servingRequest,
  workerFixture,
  type WorkerFixture,
} from './worker-fixtures';

describe('a worker with two inference threads, serving mnist-resnet', () => {
  let fixture: WorkerFixture;
  let exiting: RampConfig;

  beforeAll(async () => {
    fixture = await workerFixture('mnist-resnet');
    exiting = {
      version: 1,
      ramps: fixture.bundle.manifest.initialConfig.ramps.map((ramp) => ({ id: ramp.id, threshold: 0.5 })),
    };
  });

  it('runs batches side by side and answers every request once with the plain model’s answer', async () => {
    // Given a worker with two single-operator-thread inference threads and 160 requests on the queue
    const queue = new MemoryRequestQueue();
    const { sink, events, settled } = recordingSink();
    const reports: BatchReport[] = [];
    const worker = await ApparateWorker.start({
      bundleDir: fixture.bundle.dir,
      queue,
      sink,
      config: exiting,
      logger: memoryLogger().logger,
      onBatch: (report) => reports.push(report),
      inferenceThreads: 2,
      intraOpThreads: 1,
    });
    const indices = Array.from({ length: 160 }, (_, i) => i);
    for (const i of indices) await queue.send(servingRequest(fixture, i));

    // When the worker has answered them all
    await settled(indices.length);
    await worker.stop();

    // Then each request has exactly one final answer, equal to the plain model's
    const expected = await directPredictions(fixture, indices);
    for (const i of indices) {
      const finals = events.filter((e) => e.kind === 'final' && e.requestId === `req-${i}`);
      expect(finals).toHaveLength(1);
      const final = finals[0];
      if (final?.kind !== 'final') throw new Error('unreachable');
      expect(final.answer.classIndex).toBe(expected[i]);
    }
    // And some batches overlapped: one started before the one before it had finished
    const spans = reports
      .map((report) => ({ start: report.startedAtMs, end: Math.max(...report.finalAtMs) }))
      .sort((a, b) => a.start - b.start);
    const overlapped = spans.some((span, i) => i > 0 && span.start < (spans[i - 1]?.end ?? 0));
    expect(overlapped).toBe(true);
    // And every request is in exactly one batch's exit log
    const logged = reports.flatMap((report) => report.logItem.requests.map((r) => r.requestId));
    expect(new Set(logged).size).toBe(indices.length);
    expect(logged).toHaveLength(indices.length);
    await queue.close();
  });

  it('finishes every batch in flight when stopped, and hands queued requests back', async () => {
    // Given a busy two-thread worker whose sink is slow to store final answers
    const queue = new MemoryRequestQueue();
    const finals: string[] = [];
    const started: { worker?: ApparateWorker } = {};
    let stopped: Promise<void> | undefined;
    const sink = new CallbackResultSink(async (event) => {
      if (event.kind !== 'final') return;
      // When stop is requested while the first answers are being stored
      stopped ??= started.worker?.stop();
      await new Promise((done) => setTimeout(done, 50));
      finals.push(event.requestId);
    });
    const reports: BatchReport[] = [];
    const worker = await ApparateWorker.start({
      bundleDir: fixture.bundle.dir,
      queue,
      sink,
      logger: memoryLogger().logger,
      onBatch: (report) => reports.push(report),
      inferenceThreads: 2,
      intraOpThreads: 1,
    });
    started.worker = worker;
    for (let i = 0; i < 200; i++) await queue.send(servingRequest(fixture, i));
    await worker.done;
    await stopped;

    // Then the batches that were running were answered in full, and the rest is back on the queue
    const ran = reports.flatMap((report) => report.requests.map((h) => h.message.request.requestId));
    expect(reports.length).toBeGreaterThanOrEqual(1);
    expect(reports.length).toBeLessThanOrEqual(2);
    expect([...finals].sort()).toEqual([...ran].sort());
    const remaining = await queue.receive(1000, 0);
    expect(remaining.length + finals.length).toBe(200);
    await queue.close();
  });
});
