import {
  exitLogPartitionKey,
  exitLogSortKey,
  fromStoredItems,
  isSampled,
  shardOf,
  toStoredItems,
  type ExitLogItem,
} from '../../../adapters/dynamo/exit-log-format';
import { itemBytes } from '../../../adapters/dynamo/item-size';

const T0 = Date.UTC(2025, 0, 31, 12, 0, 30);

function batch(size: number): ExitLogItem {
  return {
    model: 'bert-spam',
    batchId: 'worker-3#17',
    startedAtMs: T0,
    configVersion: 4,
    batchSize: size,
    paddedSize: size,
    requests: Array.from({ length: size }, (_, index) => ({
      requestId: `request-${index}`,
      exit: 'final',
      releasedMs: 12 + index,
      finalMs: 12 + index,
      ramps: [{ id: 'layer2', confidence: 0.25 + index / (4 * size), prediction: index % 2 }],
      finalPrediction: 1,
    })),
  };
}

describe('exit log format', () => {
  it('keys a batch by model, minute and shard, and sorts it by start time', () => {
    // When keys are made for a batch, then they spell the documented layout
    expect(exitLogPartitionKey('bert-spam', T0, 3)).toBe('bert-spam#2025-01-31T12:00Z#3');
    expect(exitLogSortKey(T0, 'worker-3#17', 0)).toBe(`00${T0}#worker-3#17#0000`);
    expect(exitLogSortKey(999, 'a', 12) < exitLogSortKey(1000, 'a', 0)).toBe(true);
  });

  it('spreads batch ids evenly over shards and samples them by id alone', () => {
    // Given 4,000 batch ids
    const ids = Array.from({ length: 4000 }, (_, index) => `worker-${index % 7}#${index}`);

    // When each is given a shard and a sampling decision at rate 0.25
    const perShard = [0, 0, 0, 0];
    for (const id of ids) perShard[shardOf(id, 4)] = (perShard[shardOf(id, 4)] ?? 0) + 1;
    const kept = ids.filter((id) => isSampled(id, 0.25));

    // Then every shard gets about a quarter, about a quarter are kept, and asking again agrees
    for (const count of perShard) expect(Math.abs(count - 1000)).toBeLessThan(120);
    expect(Math.abs(kept.length - 1000)).toBeLessThan(120);
    expect(ids.filter((id) => isSampled(id, 0.25))).toEqual(kept);
    expect(ids.every((id) => isSampled(id, 1))).toBe(true);
    expect(ids.some((id) => isSampled(id, 0))).toBe(false);
  });

  it('splits a batch into parts under the size limit, the same way every time, losing nothing', () => {
    // Given a batch of 500 requests and a 4 KB item limit
    const item = batch(500);
    const options = { shards: 4, expiresAt: T0 / 1000 + 3600, maxItemBytes: 4096 };

    // When it is turned into stored items twice
    const stored = toStoredItems(item, options);

    // Then each part fits, parts are numbered in order in one partition, the split repeats exactly,
    // and joining the parts in any order gives the batch back
    expect(stored.items.length).toBeGreaterThan(5);
    expect(stored.oversizedRequests).toBe(0);
    expect(stored.items.every((part) => itemBytes(part) <= 4096)).toBe(true);
    expect(stored.items.map((part) => part.part)).toEqual(stored.items.map((_, index) => index));
    expect(new Set(stored.items.map((part) => part.pk)).size).toBe(1);
    expect(toStoredItems(item, options)).toEqual(stored);
    expect(fromStoredItems([...stored.items].reverse())).toEqual(item);
  });

  it('leaves out, and counts, a single request too large for any item', () => {
    // Given a batch one of whose requests has a huge ramp list
    const item = batch(3);
    const withHuge = {
      ...item,
      requests: item.requests.map((request, index) =>
        index === 1
          ? {
              ...request,
              ramps: Array.from({ length: 400 }, (_, ramp) => ({
                id: `ramp-${ramp}`,
                confidence: 0.5,
                prediction: 1,
              })),
            }
          : request,
      ),
    };

    // When it is stored under a 4 KB limit
    const stored = toStoredItems(withHuge, { shards: 4, expiresAt: 1, maxItemBytes: 4096 });

    // Then the other requests are kept and the huge one is counted
    expect(stored.oversizedRequests).toBe(1);
    expect(fromStoredItems(stored.items).requests.map((request) => request.requestId)).toEqual([
      'request-0',
      'request-2',
    ]);
  });
});
