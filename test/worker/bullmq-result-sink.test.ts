import { BullMqRequestQueue } from '../../adapters/redis/bullmq-queue';
import { StoreResultSink } from '../../core/serving/result-sink';
import { RedisResultStore } from '../../adapters/redis/redis-result-store';
import { ApparateWorker } from '../../gpu-worker/worker';
import {
  directPredictions,
  memoryLogger,
  servingRequest,
  workerFixture,
  type WorkerFixture,
} from './worker-fixtures';

const early = {
  model: 'm',
  label: '7',
  classIndex: 7,
  confidence: 0.9,
  exit: 'c1',
  latencyMs: 3,
  configVersion: 2,
  releasedAtMs: 1,
};
const final = {
  model: 'm',
  label: '7',
  classIndex: 7,
  confidence: 0.95,
  latencyMs: 9,
  agreesWithEarly: true,
  configVersion: 2,
  releasedAtMs: 2,
};

function freshNamespace(what: string): string {
  return `sink-${what}-${process.pid}-${Date.now()}`;
}

describe('the BullMQ result sink on real Redis', () => {
  let fixture: WorkerFixture;

  beforeAll(async () => {
    fixture = await workerFixture('mnist-resnet');
  }, 300_000);

  it('keeps the first early and final answer of a request and ignores repeats', async () => {
    // Given a store in a fresh namespace
    const store = new RedisResultStore({ namespace: freshNamespace('repeat'), ttlMs: 60_000 });
    const sink = new StoreResultSink(store);

    // When the early answer is written, then a different one, then the final answer twice
    await sink.early('r1', early);
    await sink.early('r1', { ...early, label: '1', classIndex: 1 });
    await sink.final('r1', final);
    await sink.final('r1', { ...final, label: '3', classIndex: 3 });

    // Then the record holds the first of each, with the model, and reads as final
    const record = await store.get('r1');
    expect(record?.status).toBe('final');
    expect(record?.model).toBe('m');
    expect(record?.early?.classIndex).toBe(7);
    expect(record?.final?.classIndex).toBe(7);
    expect(record?.final?.agreesWithEarly).toBe(true);
    await store.close();
  });

  it('records an error only while there is no final answer, and a final answer clears an error', async () => {
    // Given a store with one answered request and one failed request
    const store = new RedisResultStore({ namespace: freshNamespace('error'), ttlMs: 60_000 });
    const sink = new StoreResultSink(store);
    await sink.final('answered', final);
    await sink.error('failed', { code: 'deadline_exceeded', message: 'too late' });

    // When an error arrives for the answered one and a final answer for the failed one
    await sink.error('answered', { code: 'invalid_input', message: 'late redelivery' });
    const beforeRetry = await store.get('failed');
    await sink.final('failed', final);

    // Then the answered one keeps its answer and the retried one is final without its error
    const answered = await store.get('answered');
    expect(answered?.status).toBe('final');
    expect(answered?.error).toBeUndefined();
    expect(beforeRetry?.status).toBe('error');
    expect(beforeRetry?.error?.code).toBe('deadline_exceeded');
    const retried = await store.get('failed');
    expect(retried?.status).toBe('final');
    expect(retried?.error).toBeUndefined();
    expect(await store.get('never-seen')).toBeUndefined();
    await store.close();
  });

  it('gives every hash an expiry and refuses bad settings and corrupt hashes', async () => {
    // Given a store whose hashes live one minute
    const namespace = freshNamespace('ttl');
    const store = new RedisResultStore({ namespace, ttlMs: 60_000 });
    await store.putEarly('r', early);

    // When the expiry is read straight from Redis, and a corrupt hash is planted beside it
    const queue = new BullMqRequestQueue({ name: namespace });
    const client = await (queue as unknown as { producer: { client: Promise<RawClient> } }).producer.client;
    const ttl = Number(await client.call('PTTL', store.keyFor('r')));
    await client.hset(store.keyFor('bad'), { final: '{"label":' });

    // Then the hash expires within the minute, a corrupt one is reported, bad settings are refused
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
    await expect(store.get('bad')).rejects.toThrow(/is corrupt: final is not JSON/);
    expect(() => new RedisResultStore({ namespace: 'a:b' })).toThrow(/free of ':'/);
    expect(() => new RedisResultStore({ namespace: 'n', ttlMs: 5 })).toThrow(/at least 1000/);
    expect(() => new RedisResultStore({ namespace: 'n', redisUrl: 'http://x' })).toThrow(/redis:\/\//);
    await client.del(store.keyFor('bad'));
    await queue.close();
    await store.close();
  });

  it('serves a BullMQ queue end to end, every request with one final answer in Redis', async () => {
    // Given a worker on a fresh BullMQ queue answering into result hashes
    const name = freshNamespace('serve');
    const queue = new BullMqRequestQueue({ name, visibilityTimeoutMs: 5000 });
    const store = new RedisResultStore({ namespace: name });
    const exiting = {
      version: 1,
      ramps: fixture.bundle.manifest.initialConfig.ramps.map((ramp) => ({ id: ramp.id, threshold: 0.5 })),
    };
    const worker = await ApparateWorker.start({
      bundleDir: fixture.bundle.dir,
      queue,
      sink: new StoreResultSink(store),
      config: exiting,
      logger: memoryLogger().logger,
    });
    const indices = Array.from({ length: 40 }, (_, i) => i);
    for (const i of indices) await queue.send(servingRequest(fixture, i, { requestId: `s-${i}` }));

    // When the worker has stored them all
    const deadline = Date.now() + 30_000;
    const finals = async (): Promise<number> =>
      (await Promise.all(indices.map((i) => store.get(`s-${i}`)))).filter((r) => r?.status === 'final')
        .length;
    while ((await finals()) < indices.length && Date.now() < deadline) {
      await new Promise((done) => setTimeout(done, 50));
    }
    await worker.stop();

    // Then each final answer is the plain model's, and some were answered early too
    const expected = await directPredictions(fixture, indices);
    const records = await Promise.all(indices.map((i) => store.get(`s-${i}`)));
    records.forEach((record, i) => {
      expect(record?.status).toBe('final');
      expect(record?.final?.classIndex).toBe(expected[i]);
    });
    expect(records.some((record) => record?.early !== undefined)).toBe(true);
    expect(await queue.deadLettered()).toEqual([]);
    await queue.close();
    await store.close();
  }, 60_000);
});

interface RawClient {
  call(command: string, ...args: string[]): Promise<unknown>;
  hset(key: string, data: Record<string, string>): Promise<number>;
  del(...keys: string[]): Promise<number>;
}
