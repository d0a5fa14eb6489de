import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { Queue, Worker } from 'bullmq';
import { InputError } from '../../../core/errors';
import {
  BullMqRequestQueue,
  REQUEST_JOB_NAME,
  type BullMqQueueOptions,
} from '../../../adapters/redis/bullmq-queue';
import { describeQueueContract } from './queue-contract';
import { inferenceRequest, sleep } from './test-requests';

// The real Redis this machine (and CI) runs; every test uses a queue name of its own.
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const VISIBILITY_TIMEOUT_MS = 800;
const STALLED_CHECK_INTERVAL_MS = 200;
const MAX_RECEIVES = 3;
const REPO_ROOT = path.resolve(__dirname, '../../..');
const CONSUMER_SCRIPT = path.join(__dirname, 'fixtures', 'consumer.ts');

function uniqueQueueName(): string {
  return `apparate-test-${randomUUID()}`;
}

/** Removes every key of a test queue. */
async function obliterate(name: string): Promise<void> {
  const admin = new Queue(name, { connection: { url: REDIS_URL } });
  try {
    await admin.obliterate({ force: true });
  } finally {
    await admin.close();
  }
}

/**
 * Counts BullMQ job fetches (`Worker#getNextJob`): all calls, and the waves of calls in flight
 * together (a wave starts when a call begins while none is in flight).
 */
function countFetchWaves(): { calls: number; waves: number; largestWave: number; restore: () => void } {
  const counts = { calls: 0, waves: 0, largestWave: 0 };
  let inFlight = 0;
  let wave = 0;
  // Read off the prototype's property, not as a method, so that it is called on each Worker below.
  const original = Object.getOwnPropertyDescriptor(Worker.prototype, 'getNextJob')?.value as (
    this: Worker,
    ...args: Parameters<Worker['getNextJob']>
  ) => ReturnType<Worker['getNextJob']>;
  const spy = jest.spyOn(Worker.prototype, 'getNextJob').mockImplementation(async function (
    this: Worker,
    ...args: Parameters<Worker['getNextJob']>
  ) {
    counts.calls += 1;
    if (inFlight === 0) {
      counts.waves += 1;
      wave = 0;
    }
    inFlight += 1;
    wave += 1;
    counts.largestWave = Math.max(counts.largestWave, wave);
    try {
      return await original.apply(this, args);
    } finally {
      inFlight -= 1;
    }
  });
  return Object.assign(counts, { restore: () => spy.mockRestore() });
}

describeQueueContract('BullMQ on Redis', () => {
  const errors: Error[] = [];
  const options: BullMqQueueOptions = {
    name: uniqueQueueName(),
    redisUrl: REDIS_URL,
    visibilityTimeoutMs: VISIBILITY_TIMEOUT_MS,
    stalledCheckIntervalMs: STALLED_CHECK_INTERVAL_MS,
    maxReceives: MAX_RECEIVES,
    onError: (error) => errors.push(error),
  };
  const queue = new BullMqRequestQueue(options);
  const peers: BullMqRequestQueue[] = [];
  const foreignProducer = new Queue(options.name, { connection: { url: REDIS_URL } });
  return Promise.resolve({
    queue,
    visibilityTimeoutMs: VISIBILITY_TIMEOUT_MS,
    maxReceives: MAX_RECEIVES,
    // A lapsed lock is noticed by the next stalled-job check, so wait the timeout and two checks.
    expireVisibility: () => sleep(VISIBILITY_TIMEOUT_MS + 2 * STALLED_CHECK_INTERVAL_MS + 200),
    openPeer: () => {
      const peer = new BullMqRequestQueue(options);
      peers.push(peer);
      return Promise.resolve(peer);
    },
    // BullMQ job data is JSON; text that is not JSON goes in as a string, which fails the schema too.
    sendRawBody: async (body) => {
      let data: unknown = body;
      try {
        data = JSON.parse(body);
      } catch {
        // keep the text
      }
      await foreignProducer.add(REQUEST_JOB_NAME, data);
    },
    deadLetteredBodies: () => queue.deadLetteredBodies(),
    cleanup: async () => {
      await Promise.all([queue.close(), ...peers.map((peer) => peer.close()), foreignProducer.close()]);
      await obliterate(options.name);
      if (errors.length > 0)
        throw new Error(`the queue reported errors: ${errors.map((e) => e.message).join('; ')}`);
    },
  });
});

describe('BullMQ request queue', () => {
  const queueNames: string[] = [];
  const queues: BullMqRequestQueue[] = [];

  function openQueue(extra: Partial<BullMqQueueOptions> = {}): BullMqRequestQueue {
    const name = uniqueQueueName();
    queueNames.push(name);
    const queue = new BullMqRequestQueue({ name, redisUrl: REDIS_URL, ...extra });
    queues.push(queue);
    return queue;
  }

  afterEach(async () => {
    await Promise.all(queues.splice(0).map((queue) => queue.close()));
    await Promise.all(queueNames.splice(0).map(obliterate));
  });

  it('counts the messages waiting to be received, for the dashboard', async () => {
    // Given three requests sent
    const queue = openQueue();
    for (const id of ['w-1', 'w-2', 'w-3']) await queue.send(inferenceRequest(id));
    expect(await queue.waiting()).toBe(3);

    // When one is received, then two are still waiting
    expect(await queue.receive(1, 3000)).toHaveLength(1);
    expect(await queue.waiting()).toBe(2);
  });

  it('ends a waiting receive promptly on close, and refuses use afterwards', async () => {
    // Given a receive waiting on an empty queue
    const queue = openQueue();
    await queue.receive(1, 0);
    const waiting = queue.receive(1, 30_000);
    await sleep(100);

    // When the queue is closed
    const started = performance.now();
    await queue.close();

    // Then the receive has returned empty within about one blocking slice, and the queue is closed
    expect(await waiting).toEqual([]);
    expect(performance.now() - started).toBeLessThan(3000);
    await expect(queue.send(inferenceRequest('too-late'))).rejects.toThrow('is closed');
  });

  it('refuses a Redis URL or queue name it could not use, before connecting', () => {
    expect(() => new BullMqRequestQueue({ name: 'requests', redisUrl: 'http://127.0.0.1:6379' })).toThrow(
      'Redis URL "http://127.0.0.1:6379" must start with redis:// or rediss://',
    );
    expect(() => new BullMqRequestQueue({ name: 'a:b', redisUrl: REDIS_URL })).toThrow(InputError);
  });

  it('reports an unreachable Redis to its error listener and still shuts down', async () => {
    // Given a queue pointed at a port where no Redis listens, with a consumer stuck reconnecting
    const errors: Error[] = [];
    const queue = new BullMqRequestQueue({
      name: uniqueQueueName(),
      redisUrl: 'redis://127.0.0.1:1',
      onError: (error) => errors.push(error),
    });
    const stuck = queue.receive(1, 100);
    await sleep(300);

    // Then the connection errors reached the listener rather than an unhandled 'error' event
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]?.message).toMatch(/ECONNREFUSED/);

    // And closing does not wait for Redis to come back, ending the stuck receive too
    const started = performance.now();
    await queue.close();
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(await stuck).toEqual([]);
  });

  it('fetches a full batch from a long queue in a few waves of concurrent calls, in send order', async () => {
    // Given 40 requests waiting, and every job fetch counted by the wave of calls it belongs to
    const queue = openQueue();
    const sent = Array.from({ length: 40 }, (_, index) => `long-${index}`);
    for (const requestId of sent) await queue.send(inferenceRequest(requestId));
    const fetches = countFetchWaves();

    try {
      // When receiving up to 32, then up to 32 again
      const first = await queue.receive(32, 1000);
      const firstWaves = fetches.waves;
      const second = await queue.receive(32, 1000);

      // Then the first call took 32 in send order, in six waves (1, then 1, 2, 4, 8, 16 at once)
      // rather than 32 fetches one after another, and the second took the 8 left
      expect(first.map((message) => message.request.requestId)).toEqual(sent.slice(0, 32));
      expect(firstWaves).toBe(6);
      expect(fetches.largestWave).toBe(16);
      expect(second.map((message) => message.request.requestId)).toEqual(sent.slice(32));

      // And each delivery is held under its own receipt, so all of them can be acknowledged
      await Promise.all([...first, ...second].map((message) => queue.ack(message)));
      expect(await queue.receive(32, 0)).toEqual([]);
    } finally {
      fetches.restore();
    }
  });

  it('fetches no more often than one by one when the queue holds a single request', async () => {
    // Given one request waiting
    const queue = openQueue();
    await queue.send(inferenceRequest('alone'));
    const fetches = countFetchWaves();

    try {
      // When receiving up to 32
      const received = await queue.receive(32, 1000);

      // Then it came back after two fetches: the one that found it and one that found the queue empty
      expect(received.map((message) => message.request.requestId)).toEqual(['alone']);
      expect(fetches.calls).toBe(2);
    } finally {
      fetches.restore();
    }
  });

  it('acts on a copy of a delivery as on the original', async () => {
    // Given a delivery copied field by field (as after crossing a message channel)
    const queue = openQueue();
    await queue.send(inferenceRequest('copied'));
    const [message] = await queue.receive(1, 1000);
    if (message === undefined) throw new Error('expected a message');
    const copy = { ...message };

    // When the copy is extended and acknowledged
    await queue.extendVisibility(copy, 5000);
    await queue.ack(copy);

    // Then the message is gone
    expect(await queue.receive(1, 0)).toEqual([]);
  });

  describe('with consumers in separate processes', () => {
    const consumers: ConsumerProcess[] = [];

    afterEach(async () => {
      await Promise.all(consumers.splice(0).map((consumer) => consumer.kill('SIGKILL')));
    });

    function startConsumer(queueName: string, env: Record<string, string> = {}): ConsumerProcess {
      const consumer = new ConsumerProcess({ QUEUE_NAME: queueName, REDIS_URL, ...env });
      consumers.push(consumer);
      return consumer;
    }

    it('processes every message exactly once across two worker processes', async () => {
      // Given two consumer processes on one queue, both ready
      const producer = openQueue();
      const first = startConsumer(producer.name);
      const second = startConsumer(producer.name);
      await Promise.all([
        first.waitFor((event) => event.event === 'ready'),
        second.waitFor((e) => e.event === 'ready'),
      ]);

      // When 200 requests are sent
      const sent = Array.from({ length: 200 }, (_, index) => `process-${index}`);
      for (const requestId of sent) await producer.send(inferenceRequest(requestId));
      await waitUntil(() => first.acked().length + second.acked().length >= sent.length, 30_000);
      await Promise.all([first.stop(), second.stop()]);

      // Then each request was acknowledged exactly once, both processes took part, and none is left
      const acked = [...first.acked(), ...second.acked()];
      expect(acked.map((event) => event.requestId).sort()).toEqual([...sent].sort());
      expect(first.acked().length).toBeGreaterThan(0);
      expect(second.acked().length).toBeGreaterThan(0);
      expect(await producer.receive(1, 0)).toEqual([]);
      expect(await producer.deadLettered()).toEqual([]);
    });

    it('loses nothing when a worker process is killed mid-batch', async () => {
      // Given a consumer that takes a batch and dies holding it
      const producer = openQueue();
      const processEnv = { VISIBILITY_TIMEOUT_MS: '1000', STALLED_CHECK_INTERVAL_MS: '250' };
      const doomed = startConsumer(producer.name, { ...processEnv, HOLD: '1', BATCH_SIZE: '6' });
      await doomed.waitFor((event) => event.event === 'ready');
      const sent = Array.from({ length: 10 }, (_, index) => `killed-${index}`);
      for (const requestId of sent) await producer.send(inferenceRequest(requestId));
      const held = await doomed.waitFor((event) => event.event === 'received');
      await doomed.kill('SIGKILL');

      // When another consumer process runs
      const survivor = startConsumer(producer.name, processEnv);
      await waitUntil(() => survivor.acked().length >= sent.length, 20_000);
      await survivor.stop();

      // Then it processed every request once, the dead one's batch on its second receive
      const acked = survivor.acked();
      expect(acked.map((event) => event.requestId).sort()).toEqual([...sent].sort());
      const heldIds = held.requestIds as string[];
      expect(heldIds.length).toBeGreaterThan(0);
      for (const event of acked) {
        expect(event.receiveCount).toBe(heldIds.includes(event.requestId as string) ? 2 : 1);
      }
    });
  });
});

type ConsumerEvent = Record<string, unknown>;

/** A fixture consumer process and the JSON events it has printed so far. */
class ConsumerProcess {
  readonly events: ConsumerEvent[] = [];
  private readonly child: ChildProcess;
  private readonly exited: Promise<number | null>;
  private stderr = '';

  constructor(env: Record<string, string>) {
    this.child = spawn(process.execPath, ['-r', 'tsx/cjs', CONSUMER_SCRIPT], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    if (this.child.stdout !== null) {
      createInterface({ input: this.child.stdout }).on('line', (line) => {
        this.events.push(JSON.parse(line) as ConsumerEvent);
      });
    }
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
  }

  acked(): ConsumerEvent[] {
    return this.events.filter((event) => event.event === 'acked');
  }

  async waitFor(predicate: (event: ConsumerEvent) => boolean, timeoutMs = 20_000): Promise<ConsumerEvent> {
    await waitUntil(
      () => this.events.some(predicate),
      timeoutMs,
      () => this.describe(),
    );
    return this.events.find(predicate) as ConsumerEvent;
  }

  /** Asks it to finish its batch and close (SIGTERM), and expects a clean exit. */
  async stop(): Promise<void> {
    this.child.kill('SIGTERM');
    const code = await this.exited;
    if (code !== 0) throw new Error(`consumer exited with ${code}: ${this.describe()}`);
  }

  async kill(signal: NodeJS.Signals): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    await this.exited;
  }

  private describe(): string {
    return `events ${JSON.stringify(this.events)}, stderr ${this.stderr}`;
  }
}

async function waitUntil(
  condition: () => boolean,
  timeoutMs: number,
  describe?: () => string,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) {
      throw new Error(
        `condition not met within ${timeoutMs} ms${describe === undefined ? '' : `: ${describe()}`}`,
      );
    }
    await sleep(20);
  }
}
