import { ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { AwsClientStub } from 'aws-sdk-client-mock';
import { InputError } from '../../../core/errors';
import { SqsRequestQueue, type SqsQueueOptions } from '../../../adapters/sqs/sqs-queue';
import { FakeSqs } from './fake-sqs';
import { describeQueueContract } from './queue-contract';
import { inferenceRequest } from './test-requests';

const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/apparate-requests';
const DEAD_LETTER_QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/apparate-requests-dlq';
const VISIBILITY_TIMEOUT_MS = 30_000;
const MAX_RECEIVE_COUNT = 3;

interface FakeSqsSetup {
  readonly fake: FakeSqs;
  readonly client: SQSClient;
  readonly mock: AwsClientStub<SQSClient>;
  readonly restore: () => void;
}

/** A fake SQS with the request queue redriving to its DLQ, and a client wired to it. */
function openFakeSqs(): FakeSqsSetup {
  const fake = new FakeSqs();
  fake.createQueue(DEAD_LETTER_QUEUE_URL);
  fake.createQueue(QUEUE_URL, {
    deadLetterQueueUrl: DEAD_LETTER_QUEUE_URL,
    maxReceiveCount: MAX_RECEIVE_COUNT,
  });
  const client = new SQSClient({ region: 'eu-west-1' });
  const mock = fake.attach(client);
  return {
    fake,
    client,
    mock,
    restore: () => {
      fake.close();
      mock.restore();
      client.destroy();
    },
  };
}

function queueOptions(client: SQSClient, extra: Partial<SqsQueueOptions> = {}): SqsQueueOptions {
  return {
    queueUrl: QUEUE_URL,
    deadLetterQueueUrl: DEAD_LETTER_QUEUE_URL,
    client,
    visibilityTimeoutMs: VISIBILITY_TIMEOUT_MS,
    ...extra,
  };
}

describeQueueContract('SQS (at the SDK boundary)', () => {
  const { fake, client, restore } = openFakeSqs();
  const queue = new SqsRequestQueue(queueOptions(client));
  const peers: SqsRequestQueue[] = [];
  return Promise.resolve({
    queue,
    visibilityTimeoutMs: VISIBILITY_TIMEOUT_MS,
    maxReceives: MAX_RECEIVE_COUNT,
    expireVisibility: () => {
      fake.advance(VISIBILITY_TIMEOUT_MS + 1000);
      return Promise.resolve();
    },
    openPeer: () => {
      const peer = new SqsRequestQueue(queueOptions(client));
      peers.push(peer);
      return Promise.resolve(peer);
    },
    // A foreign producer goes through the SQS API too.
    sendRawBody: async (body) => {
      await client.send(new SendMessageCommand({ QueueUrl: QUEUE_URL, MessageBody: body }));
    },
    deadLetteredBodies: () => queue.deadLetteredBodies(),
    cleanup: async () => {
      await Promise.all([queue.close(), ...peers.map((peer) => peer.close())]);
      restore();
    },
  });
});

describe('SQS request queue', () => {
  let sqs: FakeSqsSetup;

  beforeEach(() => {
    sqs = openFakeSqs();
  });

  afterEach(() => {
    sqs.restore();
  });

  it('keeps to SQS limits: ten messages per call, whole-second waits, the receive count asked for', async () => {
    // Given 25 requests on the queue
    const queue = new SqsRequestQueue(queueOptions(sqs.client));
    for (let index = 0; index < 25; index += 1) await queue.send(inferenceRequest(`limit-${index}`));
    sqs.mock.resetHistory();

    // When receiving up to 25 with a 2.5 s wait
    const received = await queue.receive(25, 2500);

    // Then it took three calls of at most ten, long-polling (2 s, rounded down) only for the first
    expect(received).toHaveLength(25);
    const calls = sqs.mock.commandCalls(ReceiveMessageCommand).map((call) => call.args[0].input);
    expect(calls.map((input) => input.MaxNumberOfMessages)).toEqual([10, 10, 5]);
    expect(calls.map((input) => input.WaitTimeSeconds)).toEqual([2, 0, 0]);
    for (const input of calls) {
      expect(input.VisibilityTimeout).toBe(30);
      expect(input.MessageSystemAttributeNames).toEqual(['ApproximateReceiveCount']);
    }
    await queue.close();
  });

  it('moves a malformed body to the dead-letter queue and deletes it from the request queue', async () => {
    // Given a malformed body on the queue
    const queue = new SqsRequestQueue(queueOptions(sqs.client));
    await sqs.client.send(new SendMessageCommand({ QueueUrl: QUEUE_URL, MessageBody: '{"requestId": 7}' }));

    // When a consumer receives
    expect(await queue.receive(10, 0)).toEqual([]);

    // Then the body is on the dead-letter queue, as sent, and gone from the request queue
    expect(sqs.fake.bodies(DEAD_LETTER_QUEUE_URL)).toEqual(['{"requestId": 7}']);
    expect(sqs.fake.bodies(QUEUE_URL)).toEqual([]);
    await queue.close();
  });

  it('reports a malformed body it cannot dead-letter instead of failing the receive', async () => {
    // Given a dead-letter queue that refuses messages, and a malformed body ahead of a valid one
    const errors: Error[] = [];
    const queue = new SqsRequestQueue(queueOptions(sqs.client, { onError: (error) => errors.push(error) }));
    await sqs.client.send(new SendMessageCommand({ QueueUrl: QUEUE_URL, MessageBody: 'not json' }));
    await queue.send(inferenceRequest('valid'));
    sqs.mock.on(SendMessageCommand, { QueueUrl: DEAD_LETTER_QUEUE_URL }).rejects(new Error('AccessDenied'));

    // When a consumer receives
    const received = await queue.receive(10, 0);

    // Then the valid request is delivered, the failure reported, and the bad body left to come back
    expect(received.map((message) => message.request.requestId)).toEqual(['valid']);
    expect(errors.map((error) => error.message)).toEqual([expect.stringContaining('could not dead-letter')]);
    expect(sqs.fake.bodies(QUEUE_URL)).toContain('not json');
    await queue.close();
  });

  it('reads the dead-letter queue without taking anything off it', async () => {
    // Given two dead letters
    const queue = new SqsRequestQueue(queueOptions(sqs.client));
    const request = inferenceRequest('dead');
    sqs.fake.sendMessage({ QueueUrl: DEAD_LETTER_QUEUE_URL, MessageBody: JSON.stringify(request) });
    sqs.fake.sendMessage({ QueueUrl: DEAD_LETTER_QUEUE_URL, MessageBody: 'garbage' });

    // When they are read twice
    const first = await queue.deadLettered();
    const second = await queue.deadLetteredBodies();

    // Then both reads see them, and they stay on the dead-letter queue, visible
    expect(first).toEqual([request]);
    expect(second).toEqual([JSON.stringify(request), 'garbage']);
    expect(sqs.fake.bodies(DEAD_LETTER_QUEUE_URL)).toHaveLength(2);
    await queue.close();
  });

  it('refuses options that are not queue URLs or not a possible SQS visibility', () => {
    expect(() => new SqsRequestQueue(queueOptions(sqs.client, { queueUrl: 'apparate-requests' }))).toThrow(
      InputError,
    );
    expect(
      () => new SqsRequestQueue(queueOptions(sqs.client, { visibilityTimeoutMs: 13 * 3_600_000 })),
    ).toThrow('visibilityTimeoutMs for SQS must be between 1 and 43200000 (12 h), got 46800000');
  });
});
