/**
 * Reads of waiting requests' records coalesced, against dynalite: `ResultStore.getMany` returns
 * what `get` returns for each request (over more keys than one BatchGetItem takes), and
 * `BatchedReads` sends the reads asked for within its linger as one batch.
 */
import { BatchedReads } from '../../../adapters/dynamo/batched-reads';
import { ResultStore } from '../../../adapters/dynamo/result-store';
import { useLocalDynamo } from './local-dynamo';

const MODEL = 'mnist-resnet';
const final = { label: 3, confidence: 0.98, latencyMs: 6.5 };

describe('coalesced reads of the results table', () => {
  const dynamo = useLocalDynamo();
  let store: ResultStore;

  beforeEach(() => {
    store = new ResultStore({ client: dynamo.local.doc, tableName: dynamo.tables.results });
  });

  it('getMany returns what get returns for each of 130 requests, answered, pending or unknown', async () => {
    // Given 130 requests: every third answered (final), every third accepted only, the rest never recorded
    const ids = Array.from({ length: 130 }, (_, i) => `read-${i}`);
    const writes: Promise<unknown>[] = [];
    ids.forEach((id, i) => {
      if (i % 3 === 0) writes.push(store.putSettled(id, MODEL, final));
      if (i % 3 === 1) writes.push(store.putAccepted(id, { model: MODEL, deadlineAtMs: Date.now() + 5000 }));
    });
    await Promise.all(writes);

    // When they are read in one call, and one at a time
    const many = await store.getMany(ids);
    const single = await Promise.all(ids.map((id) => store.get(id)));

    // Then each request reads the same both ways
    expect(ids.map((id) => many.get(id))).toEqual(single);
    expect(single.map((record) => record?.status ?? 'unknown').slice(0, 3)).toEqual([
      'final',
      'pending',
      'unknown',
    ]);
  });

  it('sends the reads asked for within the linger as one batch, and each gets its own record', async () => {
    // Given an answered and a pending request, and reads coalesced over 50 ms
    await store.putSettled('one', MODEL, final);
    await store.putAccepted('two', { model: MODEL, deadlineAtMs: Date.now() + 5000 });
    const reads = new BatchedReads(store, { lingerMs: 50 });

    // When three waiters read 10 ms apart (one of them a request nobody recorded)
    const asked: Promise<unknown>[] = [];
    for (const id of ['one', 'two', 'three']) {
      asked.push(reads.get(id));
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const [one, two, three] = (await Promise.all(asked)) as Awaited<ReturnType<ResultStore['get']>>[];

    // Then one call answered all three, each with its own record
    expect(reads.counts).toEqual({ batches: 1, reads: 3 });
    expect(one?.final?.label).toBe(3);
    expect(two?.status).toBe('pending');
    expect(three).toBeUndefined();
  });

  it('rejects every read of a failed call, and refuses a negative linger', async () => {
    // Given reads over a table that does not exist
    const missing = new ResultStore({ client: dynamo.local.doc, tableName: 'no-such-table' });
    const reads = new BatchedReads(missing, { lingerMs: 1 });

    // When two waiters read
    const outcomes = await Promise.allSettled([reads.get('a'), reads.get('b')]);

    // Then both reads fail with the table's error, for the waits to retry
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected']);
    expect(() => new BatchedReads(store, { lingerMs: -5 })).toThrow(/at least 0; got -5/);
  });
});
