/**
 * The ingest Lambda's wait on AWS, where nothing pushes answers: it reads the results table
 * through the real ResultStore and document client, mocked only at the SDK boundary (no DynamoDB
 * here), on a simulated clock, so the read times are exact.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { ResultStore } from '../../adapters/dynamo/result-store';
import { awaitAnswer, DEFAULT_READ_SCHEDULE, readIntervals } from '../../functions/api/await-answer';

const ID = 'b7c1e0a2-4d3f-4e8a-9b6c-1a2b3c4d5e6f';
const START_MS = Date.UTC(2030, 0, 1);
const EXPIRES_AT = Math.ceil(START_MS / 1000) + 86_400;

const pendingItem = {
  requestId: ID,
  model: 'spam-bert',
  accepted: { deadlineAtMs: START_MS + 5000, recordedAtMs: START_MS },
  expiresAt: EXPIRES_AT,
};
const answeredItem = {
  ...pendingItem,
  final: { label: 'ham', confidence: 0.93, latencyMs: 41, configVersion: 2, recordedAtMs: START_MS + 41 },
};

function setUp(): {
  store: ResultStore;
  mock: ReturnType<typeof mockClient>;
  clock: { nowMs: number };
  sleeps: number[];
  sleep: (ms: number) => Promise<void>;
  readTimes: number[];
  restore: () => void;
} {
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));
  const mock = mockClient(doc);
  const clock = { nowMs: START_MS };
  const sleeps: number[] = [];
  const readTimes: number[] = [];
  const store = new ResultStore({ client: doc, tableName: 'apparate-results', nowMs: () => clock.nowMs });
  return {
    store,
    mock,
    clock,
    sleeps,
    readTimes,
    sleep: (ms) => {
      sleeps.push(ms);
      clock.nowMs += ms;
      return Promise.resolve();
    },
    restore: () => {
      mock.restore();
      doc.destroy();
    },
  };
}

describe('the adaptive wait of the ingest Lambda', () => {
  it('returns a result written before the first read at once, with one read and no sleep', async () => {
    // Given a record whose answer is already there
    const { store, mock, clock, sleeps, sleep, restore } = setUp();
    mock.on(GetCommand).resolves({ Item: answeredItem });
    try {
      // When the wait starts
      const outcome = await awaitAnswer({
        results: store,
        requestId: ID,
        untilMs: START_MS + 5000,
        nowMs: () => clock.nowMs,
        sleep,
      });

      // Then it returns the answer from the first read without sleeping
      expect(outcome.kind).toBe('settled');
      expect(outcome.kind === 'settled' && outcome.record.final?.label).toBe('ham');
      expect(mock.commandCalls(GetCommand)).toHaveLength(1);
      expect(mock.commandCalls(GetCommand)[0]?.args[0].input).toMatchObject({
        Key: { requestId: ID },
        ConsistentRead: true,
      });
      expect(sleeps).toEqual([]);
    } finally {
      restore();
    }
  });

  it('backs off from a few milliseconds by the documented factor up to the cap, then answers', async () => {
    // Given a record that stays pending until 400 ms after queueing
    const { store, mock, clock, sleeps, sleep, readTimes, restore } = setUp();
    mock.on(GetCommand).callsFake(() => {
      readTimes.push(clock.nowMs - START_MS);
      return { Item: clock.nowMs - START_MS >= 400 ? answeredItem : pendingItem };
    });
    try {
      // When the wait runs
      const outcome = await awaitAnswer({
        results: store,
        requestId: ID,
        untilMs: START_MS + 5000,
        nowMs: () => clock.nowMs,
        sleep,
      });

      // Then it slept 4, 6, 9, 13.5, ... ms, never more than 100, and read once after each sleep
      expect(outcome.kind).toBe('settled');
      const expected: number[] = [];
      for (let elapsed = 0, i = readIntervals(DEFAULT_READ_SCHEDULE); elapsed < 400;) {
        const next = i.next().value;
        expected.push(next);
        elapsed += next;
      }
      expect(sleeps).toEqual(expected);
      expect(sleeps.slice(0, 4)).toEqual([4, 6, 9, 13.5]);
      expect(Math.max(...sleeps)).toBe(100);
      expect(readTimes).toHaveLength(sleeps.length + 1);
      // The documented read count: an answer at 400 ms costs 12 reads (a fixed 20 ms: 21).
      expect(readTimes).toHaveLength(12);
    } finally {
      restore();
    }
  });

  it('gives up at the deadline with one last read, and reports a failing table as such', async () => {
    // Given a table that fails every read
    const { store, mock, clock, sleep, restore } = setUp();
    mock.on(GetCommand).rejects(new Error('ProvisionedThroughputExceededException'));
    try {
      // When the wait runs to a 300 ms deadline
      const outcome = await awaitAnswer({
        results: store,
        requestId: ID,
        untilMs: START_MS + 300,
        nowMs: () => clock.nowMs,
        sleep,
      });

      // Then it times out at the deadline and carries the read failure
      expect(outcome.kind).toBe('timeout');
      expect(outcome.kind === 'timeout' && String(outcome.readFailure)).toMatch(/Provisioned/);
      expect(clock.nowMs - START_MS).toBe(300);
    } finally {
      restore();
    }
  });
});
