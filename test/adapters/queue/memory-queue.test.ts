import { InputError } from '../../../core/errors';
import { MemoryRequestQueue } from '../../../adapters/queue/memory-queue';
import { describeQueueContract } from './queue-contract';
import { inferenceRequest } from './test-requests';

const VISIBILITY_TIMEOUT_MS = 30_000;
const MAX_RECEIVES = 3;

describeQueueContract('in-process', () => {
  // Visibility runs on a clock the test moves, so expiry needs no sleeping.
  let nowMs = 1_000_000;
  const queue = new MemoryRequestQueue({
    visibilityTimeoutMs: VISIBILITY_TIMEOUT_MS,
    maxReceives: MAX_RECEIVES,
    nowMs: () => nowMs,
  });
  return Promise.resolve({
    queue,
    visibilityTimeoutMs: VISIBILITY_TIMEOUT_MS,
    maxReceives: MAX_RECEIVES,
    expireVisibility: () => {
      nowMs += VISIBILITY_TIMEOUT_MS + 1;
      return Promise.resolve();
    },
    // Consumers in one process share the queue object.
    openPeer: () => Promise.resolve(queue),
    sendRawBody: (body) => queue.sendRawBody(body),
    deadLetteredBodies: () => queue.deadLetteredBodies(),
    cleanup: () => queue.close(),
  });
});

describe('in-process request queue', () => {
  it('counts the messages waiting to be received, not those held by a consumer', async () => {
    // Given three requests sent
    const queue = new MemoryRequestQueue();
    for (const id of ['w-1', 'w-2', 'w-3']) await queue.send(inferenceRequest(id));
    expect(await queue.waiting()).toBe(3);

    // When one is received, then two are still waiting; released, it waits again
    const [held] = await queue.receive(1, 0);
    expect(await queue.waiting()).toBe(2);
    await queue.release(held as NonNullable<typeof held>);
    expect(await queue.waiting()).toBe(3);
    await queue.close();
  });

  it('wakes a waiting receive when a hidden message reappears on the real clock', async () => {
    // Given a message received and abandoned, on the default clock with a short visibility timeout
    const queue = new MemoryRequestQueue({ visibilityTimeoutMs: 100 });
    await queue.send(inferenceRequest('abandoned'));
    await queue.receive(1, 0);

    // When a consumer waits far longer than the timeout
    const started = performance.now();
    const [again] = await queue.receive(1, 5000);

    // Then it gets the message back soon after the timeout, not at the end of its wait
    expect(again?.request.requestId).toBe('abandoned');
    expect(again?.receiveCount).toBe(2);
    expect(performance.now() - started).toBeLessThan(2000);
    await queue.close();
  });

  it('ends a waiting receive with nothing on close, and refuses use afterwards', async () => {
    // Given a receive waiting on an empty queue
    const queue = new MemoryRequestQueue();
    const waiting = queue.receive(1, 10_000);

    // When the queue is closed
    await queue.close();

    // Then the receive returns empty at once, and the queue refuses further calls
    expect(await waiting).toEqual([]);
    await expect(queue.send(inferenceRequest('too-late'))).rejects.toThrow(
      'request queue requests is closed',
    );
    await expect(queue.receive(1, 0)).rejects.toThrow('is closed');
  });

  it('refuses to act on a delivery it no longer holds', async () => {
    // Given a message received and acknowledged
    const queue = new MemoryRequestQueue();
    await queue.send(inferenceRequest('once'));
    const [message] = await queue.receive(1, 0);
    if (message === undefined) throw new Error('expected a message');
    await queue.ack(message);

    // Then acting on the same delivery again is refused, naming the request
    await expect(queue.ack(message)).rejects.toThrow('cannot acknowledge request once');
    await expect(queue.extendVisibility(message, 1000)).rejects.toThrow(
      'cannot extend the visibility of request once',
    );
    await expect(queue.release(message)).rejects.toThrow('cannot release request once');
    await queue.close();
  });

  it('refuses delivery settings and arguments that make no sense', async () => {
    expect(() => new MemoryRequestQueue({ visibilityTimeoutMs: 0 })).toThrow(InputError);
    expect(() => new MemoryRequestQueue({ maxReceives: 0 })).toThrow(
      'maxReceives must be a whole number of at least 1, got 0',
    );
    const queue = new MemoryRequestQueue();
    await expect(queue.receive(0, 100)).rejects.toThrow(RangeError);
    await expect(queue.receive(1, -1)).rejects.toThrow(RangeError);
    await queue.close();
  });
});
