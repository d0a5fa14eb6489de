import { randomUUID } from 'node:crypto';
import { SQSClient } from '@aws-sdk/client-sqs';
import { Queue } from 'bullmq';
import { InputError } from '../../../core/errors';
import { createRequestQueue, type QueueSelection } from '../../../adapters/create-queue';
import { inferenceRequest } from './test-requests';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

describe('selecting a request queue by kind', () => {
  it('builds a working in-process queue with the given delivery settings', async () => {
    // Given an in-process queue that dead-letters after one receive
    const queue = createRequestQueue({ kind: 'memory', name: 'local', maxReceives: 1 });
    expect(queue.kind).toBe('memory');

    // When a request is received once and released
    await queue.send(inferenceRequest('once-only'));
    const [message] = await queue.receive(1, 0);
    if (message === undefined) throw new Error('expected a message');
    await queue.release(message);

    // Then the setting took effect: it is dead-lettered
    expect(await queue.deadLettered()).toEqual([inferenceRequest('once-only')]);
    await queue.close();
  });

  it('builds a BullMQ queue on the given Redis', async () => {
    const name = `apparate-test-${randomUUID()}`;
    const queue = createRequestQueue({ kind: 'bullmq', name, redisUrl: REDIS_URL });
    expect(queue.kind).toBe('bullmq');

    await queue.send(inferenceRequest('via-factory'));
    const received = await queue.receive(1, 1000);
    expect(received.map((message) => message.request.requestId)).toEqual(['via-factory']);

    await queue.close();
    const admin = new Queue(name, { connection: { url: REDIS_URL } });
    await admin.obliterate({ force: true });
    await admin.close();
  });

  it('builds an SQS queue on the caller’s client and leaves that client to the caller', async () => {
    const client = new SQSClient({ region: 'eu-west-1' });
    const queue = createRequestQueue({
      kind: 'sqs',
      name: 'requests',
      sqs: {
        queueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/requests',
        deadLetterQueueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/requests-dlq',
        client,
      },
    });
    expect(queue.kind).toBe('sqs');
    await queue.close();
    client.destroy();
  });

  it('refuses an unknown kind from untyped configuration, listing the known ones', () => {
    const selection = { kind: 'kafka', name: 'requests' } as unknown as QueueSelection;

    expect(() => createRequestQueue(selection)).toThrow(InputError);
    expect(() => createRequestQueue(selection)).toThrow(
      'queue kind "kafka" is not one of memory, bullmq, sqs',
    );
  });

  it('refuses an SQS selection without its queue URLs, and bad delivery settings for any kind', () => {
    expect(() => createRequestQueue({ kind: 'sqs', name: 'requests' })).toThrow(
      'queue kind sqs needs sqs.queueUrl and sqs.deadLetterQueueUrl',
    );
    expect(() => createRequestQueue({ kind: 'memory', name: 'local', visibilityTimeoutMs: -5 })).toThrow(
      'visibilityTimeoutMs must be a positive whole number of milliseconds, got -5',
    );
  });
});
