import { BullMqRequestQueue } from '../../adapters/redis/bullmq-queue';
import type { SinkEvent } from '../../gpu-worker/result-sink';
import { bullmqWorkerArgs, freshQueueName } from '../support/bullmq-worker';
import { startWorkerProcess, until, type WorkerProcess } from './worker-process';
import { servingRequest, workerFixture, type WorkerFixture } from './worker-fixtures';

/** The answers a worker process printed on stdout (`--results stdout`). */
function answers(worker: WorkerProcess): SinkEvent[] {
  return worker.stdout
    .filter((line) => line.startsWith('{"kind"'))
    .map((line) => JSON.parse(line) as SinkEvent);
}

describe('two worker processes consuming one BullMQ queue', () => {
  let fixture: WorkerFixture;

  beforeAll(async () => {
    fixture = await workerFixture('mnist-resnet');
  }, 300_000);

  it('answers every request exactly once with a final answer, and both workers serve some', async () => {
    // Given two `apparate worker` processes on one fresh BullMQ queue, both warmed up
    const name = freshQueueName('two-workers');
    const args = bullmqWorkerArgs(fixture.bundle.dir, name, '--results', 'stdout');
    const workers = [startWorkerProcess(args), startWorkerProcess(args)];
    await Promise.all(workers.map((worker) => worker.logLine('worker started')));

    // When 160 requests are sent to the queue
    const producer = new BullMqRequestQueue({ name });
    const ids = Array.from({ length: 160 }, (_, i) => `two-${i}`);
    for (const [i, id] of ids.entries()) await producer.send(servingRequest(fixture, i, { requestId: id }));
    const finals = (): SinkEvent[] => workers.flatMap(answers).filter((event) => event.kind === 'final');
    await until(
      'every request to have a final answer',
      () => new Set(finals().map((e) => e.requestId)).size === ids.length,
    );
    for (const worker of workers) worker.child.kill('SIGTERM');
    const codes = await Promise.all(workers.map((worker) => worker.exited));

    // Then each request has exactly one final answer (no errors) across both workers
    const perRequest = new Map<string, number>();
    for (const event of finals()) perRequest.set(event.requestId, (perRequest.get(event.requestId) ?? 0) + 1);
    expect([...perRequest.keys()].sort()).toEqual([...ids].sort());
    expect([...perRequest.values()].every((count) => count === 1)).toBe(true);
    expect(workers.flatMap(answers).filter((event) => event.kind === 'error')).toEqual([]);
    // And both workers served some, stopped gracefully, and nothing was dead-lettered
    for (const worker of workers) expect(answers(worker).some((event) => event.kind === 'final')).toBe(true);
    expect(codes).toEqual([0, 0]);
    expect(await producer.deadLettered()).toEqual([]);
    await producer.close();
  }, 120_000);
});
