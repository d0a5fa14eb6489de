/**
 * The answer channels' shared contract, on the in-process channel and on Redis pub/sub against
 * the real Redis: a subscriber gets its own request's answers in order and nobody else's, stops
 * getting them once unsubscribed, and (Redis) a malformed message is reported and dropped.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { AnswerChannel, AnswerEvent } from '../../../adapters/answers/answer-channel';
import { MemoryAnswerChannel } from '../../../adapters/answers/memory-answer-channel';
import { RedisAnswerChannel } from '../../../adapters/answers/redis-answer-channel';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

const early = (requestId: string): AnswerEvent => ({
  kind: 'early',
  requestId,
  model: 'spam-bert',
  label: 'spam',
  confidence: 0.97,
  exit: 'c2',
  latencyMs: 3.5,
  configVersion: 4,
  releasedAtMs: Date.now(),
});
const final = (requestId: string): AnswerEvent => ({
  kind: 'final',
  requestId,
  model: 'spam-bert',
  label: 'spam',
  confidence: 0.99,
  latencyMs: 7.25,
  configVersion: 4,
  agreesWithEarly: true,
  releasedAtMs: Date.now(),
});

/** Waits until `events` holds `count` entries, or fails after a generous timeout. */
async function until(events: readonly unknown[], count: number): Promise<void> {
  const giveUpAt = Date.now() + 10_000;
  while (events.length < count) {
    if (Date.now() > giveUpAt) throw new Error(`only ${events.length} of ${count} events arrived`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const errors: Error[] = [];
const channels: [string, () => AnswerChannel][] = [
  ['in process', () => new MemoryAnswerChannel()],
  [
    'Redis pub/sub',
    () =>
      new RedisAnswerChannel({
        namespace: `test-answers-${randomUUID()}`,
        redisUrl: REDIS_URL,
        onError: (error) => errors.push(error),
      }),
  ],
];

describe.each(channels)('the %s answer channel', (_name, create) => {
  let channel: AnswerChannel;

  beforeEach(() => {
    errors.length = 0;
    channel = create();
  });

  afterEach(async () => {
    await channel.close();
  });

  it("delivers a request's answers to its subscriber in order, and no one else's", async () => {
    // Given a subscriber to one request
    const mine = randomUUID();
    const seen: AnswerEvent[] = [];
    const unsubscribe = await channel.subscribe(mine, (event) => seen.push(event));

    // When another request's answer and then this one's early and final answers are published
    await channel.publish(final(randomUUID()));
    await channel.publish(early(mine));
    await channel.publish(final(mine));

    // Then the subscriber gets exactly its own two, early first
    await until(seen, 2);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(seen.map((e) => [e.kind, e.requestId])).toEqual([
      ['early', mine],
      ['final', mine],
    ]);
    expect(seen[0]).toMatchObject({ label: 'spam', exit: 'c2', latencyMs: 3.5, configVersion: 4 });
    unsubscribe();
  });

  it('stops delivering once unsubscribed', async () => {
    // Given two subscribers to one request, one of which leaves
    const id = randomUUID();
    const stayed: AnswerEvent[] = [];
    const left: AnswerEvent[] = [];
    const stay = await channel.subscribe(id, (event) => stayed.push(event));
    const leave = await channel.subscribe(id, (event) => left.push(event));
    leave();

    // When an answer is published
    await channel.publish(final(id));

    // Then only the one that stayed gets it
    await until(stayed, 1);
    expect(left).toEqual([]);
    stay();
  });
});

describe('the Redis answer channel', () => {
  it('reports and drops a malformed message, and still delivers the next good one', async () => {
    // Given a subscriber, and a foreign publisher on the same channel
    const channel = new RedisAnswerChannel({
      namespace: `test-answers-${randomUUID()}`,
      redisUrl: REDIS_URL,
      onError: (error) => errors.push(error),
    });
    const raw = new Redis(REDIS_URL);
    try {
      errors.length = 0;
      const id = randomUUID();
      const seen: AnswerEvent[] = [];
      await channel.subscribe(id, (event) => seen.push(event));

      // When it publishes garbage and an answer without a label, then a good answer
      await raw.publish(channel.channel, 'not json');
      await raw.publish(channel.channel, JSON.stringify({ ...final(id), label: undefined }));
      await channel.publish(final(id));

      // Then both bad ones are reported, and only the good one delivered
      await until(seen, 1);
      expect(seen.map((e) => e.kind)).toEqual(['final']);
      expect(errors.map((e) => e.message)).toEqual([
        expect.stringContaining('malformed answer message'),
        expect.stringContaining('malformed answer message'),
      ]);
    } finally {
      raw.disconnect();
      await channel.close();
    }
  });

  it('refuses a namespace that would break the channel name', () => {
    expect(() => new RedisAnswerChannel({ namespace: 'a:b', redisUrl: REDIS_URL })).toThrow(/free of ':'/);
  });
});
