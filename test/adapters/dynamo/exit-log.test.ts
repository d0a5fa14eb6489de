import {
  BatchWriteCommand,
  PutCommand,
  ScanCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import type { DocumentSender } from '../../../adapters/dynamo/dynamo-client';
import {
  ExitLogReader,
  ExitLogWriter,
  type ExitLogItem,
  type ExitLogWriterOptions,
  type InvalidExitLogReport,
} from '../../../adapters/dynamo';
import { useLocalDynamo } from './local-dynamo';

const MODEL = 'mnist-resnet';
/** Half a minute past 12:00 UTC, so batches a few seconds apart fall into several minutes. */
const T0 = Date.UTC(2025, 0, 31, 12, 0, 30);
const MINUTE_MS = 60_000;

/** A batch as a worker would log it: every request's two ramps, where it exited and its timings. */
function batch(batchId: string, startedAtMs: number, size = 3, model = MODEL): ExitLogItem {
  return {
    model,
    batchId,
    startedAtMs,
    configVersion: 2,
    batchSize: size,
    paddedSize: size <= 4 ? 4 : 8 * Math.ceil(size / 8),
    requests: Array.from({ length: size }, (_, index) => ({
      requestId: `${batchId}-request-${index}`,
      exit: index % 3 === 0 ? 'final' : index % 3 === 1 ? 'block1' : 'block3',
      releasedMs: 2.5 + index,
      finalMs: 9.75 + index,
      ramps: [
        { id: 'block1', confidence: ((index * 7) % 10) / 10 + 0.0123456789, prediction: index % 10 },
        { id: 'block3', confidence: 0.9876543211, prediction: (index + 1) % 10 },
      ],
      finalPrediction: index % 10,
    })),
  };
}

/** Items ordered as the reader promises: by start time, ties by batch id. */
function inTimeOrder(items: ExitLogItem[]): ExitLogItem[] {
  return [...items].sort(
    (a, b) => a.startedAtMs - b.startedAtMs || (a.batchId < b.batchId ? -1 : a.batchId > b.batchId ? 1 : 0),
  );
}

const dynamo = useLocalDynamo();
let errors: Error[];
let invalid: InvalidExitLogReport[];

beforeEach(() => {
  errors = [];
  invalid = [];
});

function writer(options: Partial<ExitLogWriterOptions> = {}): ExitLogWriter {
  return new ExitLogWriter({
    client: dynamo.local.doc,
    tableName: dynamo.tables.exitLogs,
    flushIntervalMs: 3_600_000,
    retryBaseDelayMs: 1,
    onError: (error) => errors.push(error),
    ...options,
  });
}

function reader(tableName = dynamo.tables.exitLogs): ExitLogReader {
  return new ExitLogReader({
    client: dynamo.local.doc,
    tableName,
    nowMs: () => T0 + 10 * MINUTE_MS,
    onInvalidItem: (report) => invalid.push(report),
  });
}

async function storedItems(tableName = dynamo.tables.exitLogs): Promise<Record<string, unknown>[]> {
  // Tests may scan to look at the layout; the adapters never do.
  const items: Record<string, unknown>[] = [];
  let startAfter: Record<string, unknown> | undefined;
  do {
    const page = await dynamo.local.doc.send(
      new ScanCommand({ TableName: tableName, ExclusiveStartKey: startAfter }),
    );
    items.push(...(page.Items ?? []));
    startAfter = page.LastEvaluatedKey;
  } while (startAfter !== undefined);
  return items;
}

/**
 * The real client, except that the first BatchWriteItem writes only the first half of its items
 * and hands the rest back as unprocessed, as DynamoDB does under throttling.
 */
function halfUnprocessedOnFirstBatchWrite(real: DynamoDBDocumentClient): DocumentSender {
  let first = true;
  const send = async (command: unknown): Promise<unknown> => {
    if (first && command instanceof BatchWriteCommand) {
      first = false;
      const [tableName, requests] = Object.entries(command.input.RequestItems ?? {})[0] ?? ['', []];
      const kept = Math.ceil(requests.length / 2);
      await real.send(new BatchWriteCommand({ RequestItems: { [tableName]: requests.slice(0, kept) } }));
      return { UnprocessedItems: { [tableName]: requests.slice(kept) }, $metadata: {} };
    }
    return real.send(command as Parameters<DynamoDBDocumentClient['send']>[0]);
  };
  return { send };
}

describe('exit log', () => {
  it('round-trips batches across minutes and shards, in time order', async () => {
    // Given 61 batches three seconds apart (a little over three minutes), two of them started in the
    // same millisecond, recorded out of order
    const batches = Array.from({ length: 60 }, (_, index) => batch(`w1-${index}`, T0 + index * 3000));
    batches.push(batch('w0-tie', T0 + 30 * 3000));
    const log = writer();
    for (const item of [...batches].reverse()) log.record(item);

    // When they are flushed and the model's whole range is read back
    await log.flush();
    const read = await reader().since(MODEL, T0, T0 + 4 * MINUTE_MS);

    // Then every batch comes back as recorded, oldest first, and the items were spread over every
    // shard of four minutes
    expect(read).toEqual(inTimeOrder(batches));
    expect(log.stats()).toEqual({
      written: 61,
      dropped: 0,
      retried: 0,
      failed: 0,
      sampledOut: 0,
      pending: 0,
    });
    const partitions = (await storedItems()).map((item) => String(item['pk']).split('#'));
    expect(new Set(partitions.map(([, minute]) => minute))).toEqual(
      new Set(['2025-01-31T12:00Z', '2025-01-31T12:01Z', '2025-01-31T12:02Z', '2025-01-31T12:03Z']),
    );
    expect(new Set(partitions.map(([, , shard]) => shard))).toEqual(new Set(['0', '1', '2', '3']));
    expect(errors).toEqual([]);
    expect(invalid).toEqual([]);
  });

  it('returns only the requested model and the batches started within [since, until)', async () => {
    // Given two models logging a batch every ten seconds for two minutes
    const log = writer();
    for (let index = 0; index < 12; index++) {
      log.record(batch(`a-${index}`, T0 + index * 10_000, 2, MODEL));
      log.record(batch(`b-${index}`, T0 + index * 10_000, 2, 'bert-spam'));
    }
    await log.close();

    // When one model's batches from 20 s to 60 s are read
    const read = await reader().since(MODEL, T0 + 20_000, T0 + 60_000);

    // Then the first bound is included, the second excluded, and the other model never appears
    expect(read.map((item) => item.batchId)).toEqual(['a-2', 'a-3', 'a-4', 'a-5']);
    expect(await reader().since(MODEL, T0 + 200_000, T0 + 300_000)).toEqual([]);
  });

  it('keeps about half the batches at a sample rate of 0.5, the same half every time', async () => {
    // Given 400 batches recorded by two writers at rate 0.5, each into its own table
    const otherTables = await dynamo.local.freshTables();
    const batches = Array.from({ length: 400 }, (_, index) => batch(`w7-${index}`, T0 + index * 100, 1));
    const first = writer({ sampleRate: 0.5 });
    const second = writer({ sampleRate: 0.5, tableName: otherTables.exitLogs });
    for (const item of batches) {
      first.record(item);
      second.record(item);
    }
    await Promise.all([first.close(), second.close()]);

    // When both tables are read
    const firstIds = (await reader().since(MODEL, T0, T0 + MINUTE_MS)).map((item) => item.batchId);
    const secondIds = (await reader(otherTables.exitLogs).since(MODEL, T0, T0 + MINUTE_MS)).map(
      (item) => item.batchId,
    );

    // Then about half were kept (200 ± 4 standard deviations), and the same ones in both
    expect(firstIds.length).toBeGreaterThanOrEqual(160);
    expect(firstIds.length).toBeLessThanOrEqual(240);
    expect(secondIds).toEqual(firstIds);
    expect(first.stats().written + first.stats().sampledOut).toBe(400);
  });

  it('drops and counts batches beyond a full buffer without blocking or throwing', async () => {
    // Given a writer that buffers at most 10 batches and is not flushing
    const log = writer({ maxBufferedItems: 10 });

    // When 100 batches and a malformed one are recorded in one synchronous burst
    const started = performance.now();
    for (let index = 0; index < 100; index++) log.record(batch(`w2-${index}`, T0 + index));
    log.record(undefined as unknown as ExitLogItem);
    const elapsedMs = performance.now() - started;

    // Then the first 10 are held, 90 dropped, the malformed one failed, and nothing threw
    expect(log.stats()).toEqual({
      written: 0,
      dropped: 90,
      retried: 0,
      failed: 1,
      sampledOut: 0,
      pending: 10,
    });
    expect(elapsedMs).toBeLessThan(1000);

    // And when it is closed the 10 are written, and later batches are dropped too
    await log.close();
    log.record(batch('after-close', T0));
    expect(log.stats()).toEqual({
      written: 10,
      dropped: 91,
      retried: 0,
      failed: 1,
      sampledOut: 0,
      pending: 0,
    });
    expect((await reader().since(MODEL, T0, T0 + MINUTE_MS)).map((item) => item.batchId)).toEqual(
      Array.from({ length: 10 }, (_, index) => `w2-${index}`),
    );
  });

  it('retries the items DynamoDB leaves unprocessed until all are written', async () => {
    // Given a client whose first BatchWriteItem processes only half of its 25 items
    const log = writer({ client: halfUnprocessedOnFirstBatchWrite(dynamo.local.doc) });
    const batches = Array.from({ length: 40 }, (_, index) => batch(`w3-${index}`, T0 + index * 1000));

    // When 40 batches are recorded and flushed
    for (const item of batches) log.record(item);
    await log.flush();

    // Then the 12 left over were sent again, and every batch is in the table
    expect(log.stats()).toMatchObject({ written: 40, retried: 12, failed: 0, pending: 0 });
    expect(await reader().since(MODEL, T0, T0 + MINUTE_MS)).toEqual(batches);
    expect(await storedItems()).toHaveLength(40);
  });

  it('writes everything still buffered on close', async () => {
    // Given 60 batches recorded on a writer whose timer would not fire for an hour
    const log = writer();
    const batches = Array.from({ length: 60 }, (_, index) => batch(`w4-${index}`, T0 + index * 500));
    for (const item of batches) log.record(item);

    // When it is closed
    await log.close();

    // Then all of them are stored
    expect(log.stats()).toMatchObject({ written: 60, pending: 0 });
    expect(await reader().since(MODEL, T0, T0 + MINUTE_MS)).toEqual(batches);
  });

  it('writes on its interval without being asked', async () => {
    // Given a writer flushing every 20 ms
    const log = writer({ flushIntervalMs: 20 });

    // When one batch (less than a group of 25) is recorded and the interval passes
    log.record(batch('w5-0', T0));
    await new Promise((resolve) => setTimeout(resolve, 300));

    // Then it is stored before anyone flushes
    expect(log.stats()).toMatchObject({ written: 1, pending: 0 });
    await log.close();
  });

  it('splits a batch larger than an item into parts and joins them on reading', async () => {
    // Given a batch of 6,000 requests, which DynamoDB refuses as one item (over 400 KB)
    const large = batch('w6-large', T0, 6000);
    await expect(
      dynamo.local.doc.send(
        new PutCommand({ TableName: dynamo.tables.exitLogs, Item: { pk: 'whole', sk: 'batch', large } }),
      ),
    ).rejects.toThrow(/size has exceeded/);
    const log = writer();

    // When it is written and read back
    log.record(large);
    await log.close();
    const read = await reader().since(MODEL, T0, T0 + 1);

    // Then it is stored as several complete parts and read back as the one batch it was
    const parts = await storedItems();
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.every((part) => part['parts'] === parts.length)).toBe(true);
    expect(read).toEqual([large]);
    expect(log.stats()).toMatchObject({ written: 1, failed: 0 });
  });

  it('skips and reports corrupt items, and hides expired ones', async () => {
    // Given a good batch, a corrupt item in the same partition, and a batch whose TTL has passed
    const log = writer();
    log.record(batch('w8-good', T0));
    await log.close();
    const [good] = await storedItems();
    await dynamo.local.doc.send(
      new PutCommand({
        TableName: dynamo.tables.exitLogs,
        Item: { ...good, sk: `${String(good?.['sk'])}-corrupt`, requests: 'not a list' },
      }),
    );
    const shortLived = writer({ ttlMs: 60_000 });
    shortLived.record(batch('w8-expired', T0 + 1000));
    await shortLived.close();

    expect((await storedItems()).map((item) => item['batchId'])).toContain('w8-expired');

    // When the range is read ten minutes later
    const read = await reader().since(MODEL, T0, T0 + MINUTE_MS);

    // Then only the good batch is returned, and the corrupt item was reported
    expect(read.map((item) => item.batchId)).toEqual(['w8-good']);
    expect(invalid).toHaveLength(1);
    expect(invalid[0]?.reason).toMatch(/requests/);
  });

  it('counts and reports batches it cannot write, without throwing', async () => {
    // Given a writer pointed at a table that does not exist, and a batch that fails the schema
    const log = writer({ tableName: `${dynamo.tables.exitLogs}-missing` });
    log.record(batch('w9-0', T0));
    log.record({ ...batch('w9-1', T0), paddedSize: 1 });

    // When it is closed
    await log.close();

    // Then both count as failed and each failure was reported
    expect(log.stats()).toMatchObject({ written: 0, failed: 2, pending: 0 });
    expect(errors.map((error) => error.message)).toEqual([
      expect.stringMatching(/not valid.*paddedSize/),
      expect.stringMatching(/write failed for 1 items/),
    ]);
  });
});
