/**
 * How often a pushed wait reads the durable record, on the real channels (in process, and Redis
 * pub/sub on the real Redis) and a results table in dynalite: a channel that can lose an answer
 * is backed by a read every `fallbackReadMs`; the in-process channel, which cannot, is read only
 * at the deadline, so a backlog of waiting requests costs the front door no reads.
 */
import { randomUUID } from 'node:crypto';
import type { AnswerChannel } from '../../adapters/answers/answer-channel';
import { MemoryAnswerChannel } from '../../adapters/answers/memory-answer-channel';
import { RedisAnswerChannel } from '../../adapters/answers/redis-answer-channel';
import { ResultStore } from '../../adapters/dynamo/result-store';
import { AnswerInbox } from '../../functions/api/answer-inbox';
import { awaitAnswer, type ResultReader } from '../../functions/api/await-answer';
import { streamAnswers } from '../../functions/api/answer-stream';
import { useLocalDynamo } from '../adapters/dynamo/local-dynamo';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const FALLBACK_READ_MS = 100;
const WAIT_MS = 450;

describe('reads of the durable record during a pushed wait', () => {
  const dynamo = useLocalDynamo();
  const channels: AnswerChannel[] = [];

  afterEach(async () => {
    await Promise.all(channels.splice(0).map((channel) => channel.close()));
  });

  /** A results table in dynalite whose reads are counted. */
  const countedReader = (): { reader: ResultReader; reads: () => number } => {
    const store = new ResultStore({ client: dynamo.local.doc, tableName: dynamo.tables.results });
    let reads = 0;
    return {
      reader: {
        get: (requestId) => {
          reads += 1;
          return store.get(requestId);
        },
      },
      reads: () => reads,
    };
  };

  const open = (channel: AnswerChannel): AnswerChannel => {
    channels.push(channel);
    return channel;
  };

  it.each([
    ['in process', () => new MemoryAnswerChannel(), 1, 1],
    [
      'Redis pub/sub',
      () => new RedisAnswerChannel({ namespace: `test-reads-${randomUUID()}`, redisUrl: REDIS_URL }),
      4,
      6,
    ],
  ])(
    'on the %s channel, a wait that gets no answer reads the record between %i and %i times',
    async (_name, create, fewest, most) => {
      // Given a subscribed request whose answer never comes
      const channel = open(create());
      const requestId = randomUUID();
      const inbox = await AnswerInbox.open(channel, requestId);
      const { reader, reads } = countedReader();

      // When it waits 450 ms with a fallback read every 100 ms
      const outcome = await awaitAnswer({
        results: reader,
        requestId,
        untilMs: Date.now() + WAIT_MS,
        nowMs: Date.now,
        inbox,
        fallbackReadMs: FALLBACK_READ_MS,
      });
      inbox.close();

      // Then it times out, having read the record once at the deadline where no push can be lost,
      // and about every 100 ms where one can
      expect(outcome.kind).toBe('timeout');
      expect(channel.lossless).toBe(fewest === 1);
      expect(reads()).toBeGreaterThanOrEqual(fewest);
      expect(reads()).toBeLessThanOrEqual(most);
    },
  );

  it('streams an answer pushed in process without reading the record at all', async () => {
    // Given a streaming request on the in-process channel
    const channel = open(new MemoryAnswerChannel());
    const requestId = randomUUID();
    const inbox = await AnswerInbox.open(channel, requestId);
    const { reader, reads } = countedReader();
    const events: string[] = [];

    // When its final answer is published 250 ms into a wait with 100 ms fallback reads
    const published = new Promise<void>((resolve) =>
      setTimeout(() => {
        void channel
          .publish({
            kind: 'final',
            requestId,
            model: 'spam-bert',
            label: 'ham',
            confidence: 0.91,
            latencyMs: 9,
            configVersion: 1,
            releasedAtMs: Date.now(),
          })
          .then(resolve);
      }, 250),
    );
    await streamAnswers({
      requestId,
      model: 'spam-bert',
      results: reader,
      inbox,
      receivedAtMs: Date.now(),
      untilMs: Date.now() + 5000,
      nowMs: Date.now,
      fallbackReadMs: FALLBACK_READ_MS,
      emit: (name) => events.push(name),
    });
    await published;
    inbox.close();

    // Then the final event went out and the table was never read
    expect(events).toEqual(['final']);
    expect(reads()).toBe(0);
  });
});
