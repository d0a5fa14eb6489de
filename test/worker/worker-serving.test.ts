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

/** The serving tests run with one inference thread and with two side by side. */
const LAYOUTS: readonly (readonly [string, number])[] = [
  ['one inference thread', 1],
  ['two inference threads side by side', 2],
];

describe('the worker serving mnist-resnet from the in-process queue', () => {
  let fixture: WorkerFixture;
  let exiting: RampConfig;

  beforeAll(async () => {
    fixture = await workerFixture('mnist-resnet');
    // High thresholds on the bundle's own ramps, so that many inputs exit early.
    exiting = {
      version: 1,
      ramps: fixture.bundle.manifest.initialConfig.ramps.map((ramp) => ({ id: ramp.id, threshold: 0.5 })),
    };
  });

  it.each(LAYOUTS)(
    'with %s, answers every request once with the plain model’s answer, releasing early answers before the batch ends',
    async (_layout, inferenceThreads) => {
      // Given a worker with exiting thresholds, single-threaded sessions and 160 real requests on the queue
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
        inferenceThreads,
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
      // And some inputs exited, each released before its batch's final answers
      const early = events.filter((e) => e.kind === 'early');
      expect(early.length).toBeGreaterThan(0);
      for (const event of early) {
        if (event.kind !== 'early') continue;
        const final = events.find((e) => e.kind === 'final' && e.requestId === event.requestId);
        if (final?.kind !== 'final') throw new Error(`no final answer for ${event.requestId}`);
        expect(event.answer.releasedAtMs).toBeLessThan(final.answer.releasedAtMs);
        expect(final.answer.agreesWithEarly).toBe(event.answer.classIndex === final.answer.classIndex);
      }
      // And every batch's exit log holds each of its inputs' final prediction, each input in one batch
      const logged = reports.flatMap((report) => report.logItem.requests);
      expect(new Set(logged.map((r) => r.requestId)).size).toBe(indices.length);
      expect(logged).toHaveLength(indices.length);
      // And with two threads some batch started before the one before it had finished
      const spans = reports
        .map((report) => ({ start: report.startedAtMs, end: Math.max(...report.finalAtMs) }))
        .sort((a, b) => a.start - b.start);
      const overlapped = spans.some((span, i) => i > 0 && span.start < (spans[i - 1]?.end ?? 0));
      expect(overlapped).toBe(inferenceThreads > 1);
      expect(await queue.deadLettered()).toEqual([]);
      await queue.close();
    },
  );

  it('answers malformed inputs with a clear error and serves the rest of their batch', async () => {
    // Given a queue holding good requests mixed with malformed ones
    const queue = new MemoryRequestQueue();
    const { sink, events, settled } = recordingSink();
    const worker = await ApparateWorker.start({
      bundleDir: fixture.bundle.dir,
      queue,
      sink,
      logger: memoryLogger().logger,
    });
    const pixels = servingRequest(fixture, 0).input as number[];
    const bad: Record<string, unknown> = {
      'wrong-shape': pixels.slice(0, 100),
      'nan-as-null': pixels.map((v, i) => (i === 5 ? null : v)),
      'out-of-range': pixels.map((v, i) => (i === 7 ? 300 : v)),
      'wrong-type': 'a digit, please',
      strings: pixels.map(String),
    };
    for (let i = 0; i < 8; i++) await queue.send(servingRequest(fixture, i));
    for (const [id, input] of Object.entries(bad))
      await queue.send(servingRequest(fixture, 0, { requestId: id, input }));
    await queue.sendRawBody('{"requestId": "broken", not json');
    for (let i = 8; i < 16; i++) await queue.send(servingRequest(fixture, i));

    // When everything has been answered
    await settled(16 + Object.keys(bad).length);
    await worker.stop();

    // Then every malformed input got an invalid_input error saying what is allowed
    for (const id of Object.keys(bad)) {
      const answers = events.filter((e) => e.requestId === id);
      expect(answers).toHaveLength(1);
      const answer = answers[0];
      if (answer?.kind !== 'error') throw new Error(`${id} was not refused`);
      expect(answer.error.code).toBe('invalid_input');
      expect(answer.error.message).toMatch(
        /input must be an array of 784 grey values \(28x28\), each a number from 0 to 255/,
      );
    }
    // And the body that is not JSON went to the dead-letter queue
    expect(await queue.deadLetteredBodies()).toEqual(['{"requestId": "broken", not json']);
    // And every good request was served with the plain model's answer
    const expected = await directPredictions(
      fixture,
      Array.from({ length: 16 }, (_, i) => i),
    );
    for (let i = 0; i < 16; i++) {
      const final = events.find((e) => e.kind === 'final' && e.requestId === `req-${i}`);
      if (final?.kind !== 'final') throw new Error(`req-${i} was not served`);
      expect(final.answer.classIndex).toBe(expected[i]);
    }
    await queue.close();
  });

  it('answers past-deadline requests with deadline_exceeded without serving them', async () => {
    // Given requests whose deadlines have passed, among live ones
    const queue = new MemoryRequestQueue();
    const { sink, events, settled } = recordingSink();
    const reports: BatchReport[] = [];
    const worker = await ApparateWorker.start({
      bundleDir: fixture.bundle.dir,
      queue,
      sink,
      logger: memoryLogger().logger,
      onBatch: (report) => reports.push(report),
    });
    const past = Date.now() - 1000;
    for (let i = 0; i < 4; i++) await queue.send(servingRequest(fixture, i));
    for (let i = 0; i < 4; i++) {
      await queue.send(
        servingRequest(fixture, i, { requestId: `late-${i}`, enqueuedAtMs: past - 5000, deadlineAtMs: past }),
      );
    }

    // When all are answered
    await settled(8);
    await worker.stop();

    // Then the late ones are refused as such, never batched, and acknowledged
    for (let i = 0; i < 4; i++) {
      const answers = events.filter((e) => e.requestId === `late-${i}`);
      expect(answers.map((a) => (a.kind === 'error' ? a.error.code : a.kind))).toEqual(['deadline_exceeded']);
    }
    const batched = reports.flatMap((r) => r.requests.map((h) => h.message.request.requestId));
    expect(batched.filter((id) => id.startsWith('late-'))).toEqual([]);
    expect(worker.counts.deadlineExceeded).toBe(4);
    expect(await queue.receive(10, 0)).toEqual([]);
    await queue.close();
  });

  it.each(LAYOUTS)(
    'with %s, finishes the batches in flight when stopped, and hands queued requests back',
    async (_layout, inferenceThreads) => {
      // Given a worker busy with a backlog, whose sink is slow to store final answers
      const queue = new MemoryRequestQueue();
      const finals: string[] = [];
      const started: { worker?: ApparateWorker } = {};
      let stopped: Promise<void> | undefined;
      const sink = new CallbackResultSink(async (event) => {
        if (event.kind !== 'final') return;
        // When stop is requested while the first batch's answers are being stored
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
        inferenceThreads,
      });
      started.worker = worker;
      for (let i = 0; i < 200; i++) await queue.send(servingRequest(fixture, i));
      await worker.done;
      await stopped;

      // Then exactly the batches in flight (at most one per thread) were answered in full and
      // acknowledged, and the rest is back on the queue
      expect(reports.length).toBeGreaterThanOrEqual(1);
      expect(reports.length).toBeLessThanOrEqual(inferenceThreads);
      const inFlight = reports.flatMap((report) => report.requests.map((h) => h.message.request.requestId));
      expect(inFlight.length).toBeGreaterThan(0);
      expect([...finals].sort()).toEqual([...inFlight].sort());
      const remaining = await queue.receive(1000, 0);
      expect(remaining.length + finals.length).toBe(200);
      expect(remaining.map((m) => m.request.requestId).filter((id) => finals.includes(id))).toEqual([]);
      await queue.close();
    },
  );
});
