/**
 * The behaviour every request queue owes the worker, written once and run against each transport.
 * A transport's test file supplies a factory that opens a fresh, empty queue per test, plus the few
 * hooks that cannot go through the interface: expiring visibility (a clock, or waiting it out),
 * opening a second consumer, and putting a body on the queue the way a foreign producer could.
 */
/* eslint-disable jest/no-export -- this file is the shared suite that each transport's test file runs */
import { InputError } from '../../../core/errors';
import type { ReceivedMessage, RequestQueue } from '../../../adapters/queue/request-queue';
import { inferenceRequest, sleep } from './test-requests';

export interface QueueUnderTest {
  readonly queue: RequestQueue;
  /** The visibility timeout the queue was opened with. */
  readonly visibilityTimeoutMs: number;
  /** The receive limit the queue (or its redrive policy) was opened with. */
  readonly maxReceives: number;
  cleanup(): Promise<void>;
  /**
   * Lets the visibility timeout of every unextended delivery lapse, and lets the transport notice.
   * Without it the contract waits the timeout out in real time.
   */
  expireVisibility?(): Promise<void>;
  /** Another consumer of the same queue (the same object where consumers share one in-process). */
  openPeer(): Promise<RequestQueue>;
  /** Puts a body on the queue unchecked, as a producer not using the adapter could. */
  sendRawBody(body: string): Promise<void>;
  /** Every dead-lettered body as text, malformed ones included. */
  deadLetteredBodies(): Promise<string[]>;
}

/** Long enough for any transport to hand over a message that is already there. */
const ARRIVAL_WAIT_MS = 3000;
/** A wait that only has to show that nothing else is there. */
const SHORT_WAIT_MS = 200;

function ids(messages: readonly ReceivedMessage[]): string[] {
  return messages.map((message) => message.request.requestId);
}

export function describeQueueContract(name: string, factory: () => Promise<QueueUnderTest>): void {
  describe(`${name} request queue contract`, () => {
    let subject: QueueUnderTest;
    let queue: RequestQueue;

    beforeEach(async () => {
      subject = await factory();
      queue = subject.queue;
    });

    afterEach(async () => {
      await subject.cleanup();
    });

    function expireVisibility(): Promise<void> {
      return subject.expireVisibility?.() ?? sleep(subject.visibilityTimeoutMs + 100);
    }

    it('delivers a sent request with its body unchanged and a receive count of 1', async () => {
      // Given a request with a structured input
      const request = inferenceRequest('round-trip', {
        mode: 'async',
        input: { text: 'héllo', ids: [3, 1, 4] },
      });

      // When it is sent and received
      await queue.send(request);
      const received = await queue.receive(1, ARRIVAL_WAIT_MS);

      // Then the same request arrives once, on its first receive
      expect(received).toHaveLength(1);
      expect(received[0]?.request).toEqual(request);
      expect(received[0]?.receiveCount).toBe(1);
      expect(received[0]?.receipt).toEqual(expect.any(String));
    });

    it('refuses to send a request that consumers would have to dead-letter', async () => {
      // Given requests that break the schema, directly or once serialised as JSON
      const emptyId = inferenceRequest('');
      const lostInput = inferenceRequest('lost-input', { input: undefined });

      // Then sending them is an input error, and nothing reaches the queue
      await expect(queue.send(emptyId)).rejects.toThrow(InputError);
      await expect(queue.send(lostInput)).rejects.toThrow(InputError);
      expect(await queue.receive(1, SHORT_WAIT_MS)).toEqual([]);
    });

    it('receives at most max messages per call, and the rest on the next call', async () => {
      // Given more messages than one SQS call returns
      const sent = Array.from({ length: 13 }, (_, index) => `bulk-${index}`);
      for (const requestId of sent) await queue.send(inferenceRequest(requestId));

      // When receiving up to 12, then up to 12 again
      const first = await queue.receive(12, ARRIVAL_WAIT_MS);
      const second = await queue.receive(12, ARRIVAL_WAIT_MS);

      // Then the first call takes 12 and the second the one left, each message once
      expect(first).toHaveLength(12);
      expect(second).toHaveLength(1);
      expect([...ids(first), ...ids(second)].sort()).toEqual([...sent].sort());
    });

    it('waits up to waitMs for a message and returns empty when none comes', async () => {
      // Given an empty queue, when receiving with a one-second wait
      const started = performance.now();
      const received = await queue.receive(1, 1000);

      // Then nothing is returned, after waiting (close to) the full second
      expect(received).toEqual([]);
      expect(performance.now() - started).toBeGreaterThanOrEqual(900);
    });

    it('returns from a wait as soon as a message is sent', async () => {
      // Given a receive waiting on an empty queue
      const started = performance.now();
      const waiting = queue.receive(1, 10_000);

      // When a request is sent during the wait
      await sleep(200);
      await queue.send(inferenceRequest('late'));

      // Then the waiting receive returns it long before its wait is up
      expect(ids(await waiting)).toEqual(['late']);
      expect(performance.now() - started).toBeLessThan(5000);
    });

    it('never delivers an acknowledged message again', async () => {
      // Given a received message that is acknowledged
      await queue.send(inferenceRequest('done'));
      const [message] = await queue.receive(1, ARRIVAL_WAIT_MS);
      if (message === undefined) throw new Error('expected a message');
      await queue.ack(message);

      // When its visibility timeout would have lapsed
      await expireVisibility();

      // Then it is gone
      expect(await queue.receive(1, SHORT_WAIT_MS)).toEqual([]);
      expect(await queue.deadLettered()).toEqual([]);
    });

    it('hides an unacknowledged message until the visibility timeout, then delivers it again', async () => {
      // Given a received message that is neither acknowledged nor released (its consumer died)
      await queue.send(inferenceRequest('orphan'));
      const [first] = await queue.receive(1, ARRIVAL_WAIT_MS);
      if (first === undefined) throw new Error('expected a message');

      // Then it is hidden while its visibility lasts
      expect(await queue.receive(1, 0)).toEqual([]);

      // When the visibility timeout lapses, it is delivered again, as its second receive
      await expireVisibility();
      const [second] = await queue.receive(1, ARRIVAL_WAIT_MS);
      expect(second?.request.requestId).toBe('orphan');
      expect(second?.receiveCount).toBe(2);
      expect(second?.receipt).not.toBe(first.receipt);
    });

    it('keeps a message hidden past the original timeout when its visibility is extended', async () => {
      // Given a received message whose visibility is extended well past the timeout
      await queue.send(inferenceRequest('long-batch'));
      const [message] = await queue.receive(1, ARRIVAL_WAIT_MS);
      if (message === undefined) throw new Error('expected a message');
      await queue.extendVisibility(message, subject.visibilityTimeoutMs * 10);

      // When the original timeout lapses
      await expireVisibility();

      // Then it is still hidden, and its consumer can still acknowledge it
      expect(await queue.receive(1, SHORT_WAIT_MS)).toEqual([]);
      await queue.ack(message);
      await expireVisibility();
      expect(await queue.receive(1, SHORT_WAIT_MS)).toEqual([]);
    });

    it('makes a released message visible again at once, counting the receive', async () => {
      // Given a received message whose batch failed
      await queue.send(inferenceRequest('retry-me'));
      const [first] = await queue.receive(1, ARRIVAL_WAIT_MS);
      if (first === undefined) throw new Error('expected a message');

      // When it is released
      await queue.release(first);

      // Then the next receive gets it without waiting, as its second receive
      const [second] = await queue.receive(1, 0);
      expect(second?.request.requestId).toBe('retry-me');
      expect(second?.receiveCount).toBe(2);
    });

    it('dead-letters a message released on each of its maxReceives receives', async () => {
      // Given a message whose batch fails on every receive
      const request = inferenceRequest('always-fails');
      await queue.send(request);
      for (let receive = 1; receive <= subject.maxReceives; receive += 1) {
        const [message] = await queue.receive(1, ARRIVAL_WAIT_MS);
        expect(message?.receiveCount).toBe(receive);
        if (message === undefined) throw new Error('expected a message');
        await queue.release(message);
      }

      // Then it is not delivered again but dead-lettered
      expect(await queue.receive(1, SHORT_WAIT_MS)).toEqual([]);
      expect(await queue.deadLettered()).toEqual([request]);
    });

    it('dead-letters a message whose consumer dies on each of its maxReceives receives', async () => {
      // Given a message that is never acknowledged, its visibility lapsing after every receive
      const request = inferenceRequest('crashes-workers');
      await queue.send(request);
      for (let receive = 1; receive <= subject.maxReceives; receive += 1) {
        const [message] = await queue.receive(1, ARRIVAL_WAIT_MS);
        expect(message?.receiveCount).toBe(receive);
        await expireVisibility();
      }

      // Then once it comes back after the last receive it is dead-lettered, not delivered
      expect(await queue.receive(1, 1500)).toEqual([]);
      expect(await queue.deadLettered()).toEqual([request]);
    });

    it('delivers a request queued before the due time was named deadlineAtMs, reading its deadlineMs as deadlineAtMs', async () => {
      // Given a body an earlier front door wrote, with the due time (epoch ms) under `deadlineMs`
      const { deadlineAtMs, ...current } = inferenceRequest('queued-before-upgrade');
      await subject.sendRawBody(JSON.stringify({ ...current, deadlineMs: deadlineAtMs }));

      // When a consumer receives it
      const received = await queue.receive(1, ARRIVAL_WAIT_MS);

      // Then it is delivered, not dead-lettered, with the due time under its current name only
      expect(received.map((message) => message.request)).toEqual([{ ...current, deadlineAtMs }]);
      expect(await subject.deadLetteredBodies()).toEqual([]);
    });

    it('dead-letters malformed bodies at once, without delivering them or holding up valid messages', async () => {
      // Given a body that breaks the schema and one that is not JSON, ahead of a valid request
      await subject.sendRawBody(JSON.stringify({ requestId: 'poison-schema', model: '' }));
      await subject.sendRawBody('poison-text, not JSON');
      await queue.send(inferenceRequest('valid-after-poison'));

      // When a consumer receives
      const received = await queue.receive(10, ARRIVAL_WAIT_MS);

      // Then only the valid request is delivered, and both malformed bodies are dead-lettered
      expect(ids(received)).toEqual(['valid-after-poison']);
      expect(await queue.receive(10, SHORT_WAIT_MS)).toEqual([]);
      const bodies = await subject.deadLetteredBodies();
      expect(bodies).toHaveLength(2);
      expect(bodies.some((body) => body.includes('poison-schema'))).toBe(true);
      expect(bodies.some((body) => body.includes('poison-text'))).toBe(true);
      // They are no requests, so deadLettered() leaves them out
      expect(await queue.deadLettered()).toEqual([]);
    });

    it('never hands one message to two consumers at once', async () => {
      // Given twenty messages and two consumers of the queue
      const sent = Array.from({ length: 20 }, (_, index) => `shared-${index}`);
      for (const requestId of sent) await queue.send(inferenceRequest(requestId));
      const peer = await subject.openPeer();

      // When both receive small batches concurrently, acknowledging each, until the queue is empty
      async function consume(consumer: RequestQueue): Promise<string[]> {
        const seen: string[] = [];
        for (;;) {
          const batch = await consumer.receive(3, 1000);
          if (batch.length === 0) return seen;
          seen.push(...ids(batch));
          for (const message of batch) await consumer.ack(message);
        }
      }
      const [mine, theirs] = await Promise.all([consume(queue), consume(peer)]);

      // Then every message was delivered exactly once across the two
      expect([...mine, ...theirs].sort()).toEqual([...sent].sort());
    });

    it('does not let a superseded receipt remove a message another consumer now holds', async () => {
      // Given a message received by one consumer whose visibility lapsed, then received by another
      await queue.send(inferenceRequest('contested'));
      const [stale] = await queue.receive(1, ARRIVAL_WAIT_MS);
      if (stale === undefined) throw new Error('expected a message');
      await expireVisibility();
      const peer = await subject.openPeer();
      const [current] = await peer.receive(1, ARRIVAL_WAIT_MS);
      expect(current?.receiveCount).toBe(2);
      if (current === undefined) throw new Error('expected a message');

      // When the first consumer acknowledges late (a transport may refuse or ignore it)
      await queue.ack(stale).catch(() => undefined);

      // Then the message is still there for the consumer that holds it now
      await peer.release(current);
      const [again] = await queue.receive(1, ARRIVAL_WAIT_MS);
      expect(again?.request.requestId).toBe('contested');
      expect(again?.receiveCount).toBe(3);
    });
  });
}
