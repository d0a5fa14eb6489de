/**
 * Settled answers written in batches, against dynalite: `ResultStore.putSettledMany` leaves every
 * item as `putSettled` would (first write wins, the acceptance and an earlier early answer kept,
 * an error cleared), and `BatchedSettles` coalesces the settles of one turn into one batch,
 * resolving each once it is recorded and rejecting each it could not record.
 */
import { BatchedSettles } from '../../../adapters/dynamo/batched-settles';
import {
  ResultStore,
  type SettledAnswers,
  type StoredEarlyAnswer,
  type StoredFinalAnswer,
} from '../../../adapters/dynamo/result-store';
import type { FinalAnswer } from '../../../core/serving/answers';
import { startLocalDynamo, type LocalDynamo } from './local-dynamo';

const NOW_MS = 1_750_000_000_000;
const MODEL = 'mnist-resnet';

const early: StoredEarlyAnswer = {
  model: MODEL,
  label: 7,
  confidence: 0.97,
  exit: 'block2',
  latencyMs: 4.5,
  configVersion: 3,
};
const final: StoredFinalAnswer = { label: 7, confidence: 0.99, latencyMs: 11.25, agreesWithEarly: true };

let local: LocalDynamo;
let store: ResultStore;
let nowMs: number;

beforeAll(async () => {
  local = await startLocalDynamo();
});

afterAll(async () => {
  await local.close();
});

beforeEach(async () => {
  const tables = await local.freshTables();
  nowMs = NOW_MS;
  store = new ResultStore({ client: local.doc, tableName: tables.results, nowMs: () => nowMs });
});

/** Puts each item's prior state in place, as the ingest side or an earlier delivery left it. */
async function priorState(
  id: string,
  state: 'none' | 'accepted' | 'error' | 'early' | 'final',
): Promise<void> {
  if (state === 'accepted') await store.putAccepted(id, { model: MODEL, deadlineAtMs: NOW_MS + 5000 });
  if (state === 'error') await store.putError(id, { code: 'internal_error', message: 'worker lost' });
  if (state === 'early') await store.putEarly(id, { ...early, label: 2 });
  if (state === 'final') await store.putSettled(id, MODEL, { ...final, label: 1 });
}

describe('ResultStore.putSettledMany', () => {
  it('leaves every item as putSettled would, over more requests than one batch write takes', async () => {
    // Given 60 requests in five prior states, each state twice over: one copy to be settled one
    // by one, one to be settled in the batch
    const states = ['none', 'accepted', 'error', 'early', 'final'] as const;
    const requests = Array.from({ length: 60 }, (_, i) => ({
      n: i,
      state: states[i % states.length] as (typeof states)[number],
    }));
    for (const { n, state } of requests) {
      await priorState(`one-${n}`, state);
      await priorState(`many-${n}`, state);
    }

    // When each is settled (every other one with an early answer), one by one and as a batch
    nowMs += 10;
    const entries: SettledAnswers[] = requests.map(({ n }) => ({
      requestId: `many-${n}`,
      model: MODEL,
      final: { ...final, latencyMs: n },
      ...(n % 2 === 0 ? { early } : {}),
    }));
    for (const { n } of requests) {
      await store.putSettled(`one-${n}`, MODEL, { ...final, latencyMs: n }, n % 2 === 0 ? early : undefined);
    }
    const outcomes = await store.putSettledMany(entries);

    // Then every entry was recorded, and each batch-written item equals its one-by-one twin
    expect(outcomes).toEqual(entries.map(() => undefined));
    for (const { n, state } of requests) {
      const one = await store.get(`one-${n}`);
      const many = await store.get(`many-${n}`);
      expect({ state, record: { ...many, requestId: 'x' } }).toEqual({
        state,
        record: { ...one, requestId: 'x' },
      });
    }
    // ... which means: an earlier final answer won, an earlier early answer was kept, the
    // acceptance was kept and an error cleared
    expect((await store.get('many-4'))?.final?.label).toBe(1);
    expect((await store.get('many-3'))?.early?.label).toBe(2);
    expect((await store.get('many-1'))?.accepted?.deadlineAtMs).toBe(NOW_MS + 5000);
    expect((await store.get('many-2'))?.status).toBe('final');
    expect((await store.get('many-2'))?.error).toBeUndefined();
  });

  it('lets the first of two settles of one request in a batch win, and fails only the invalid entry', async () => {
    // When a batch holds a request twice and an entry whose answers name two models
    const outcomes = await store.putSettledMany([
      { requestId: 'r1', model: MODEL, final: { ...final, label: 4 } },
      { requestId: 'r2', model: 'spam-bert', final, early },
      { requestId: 'r1', model: MODEL, final: { ...final, label: 5 } },
    ]);

    // Then the first answer of r1 is recorded, and the invalid entry alone failed, naming why
    expect(outcomes[0]).toBeUndefined();
    expect(outcomes[2]).toBeUndefined();
    expect(outcomes[1]?.message).toMatch(/names model mnist-resnet, its final answer spam-bert/);
    expect((await store.get('r1'))?.final?.label).toBe(4);
    expect(await store.get('r2')).toBeUndefined();
  });
});

describe('BatchedSettles', () => {
  const finalAnswer = (label: string): FinalAnswer => ({
    model: MODEL,
    label,
    classIndex: 0,
    confidence: 0.9,
    latencyMs: 3,
    configVersion: 0,
    releasedAtMs: NOW_MS,
  });

  it('writes the settles of one turn as one batch, and a later settle of the same request changes nothing', async () => {
    // Given settles batched over the store
    const batched = new BatchedSettles(store);

    // When 30 requests are settled in the same turn (as a worker's batch releases them)
    await Promise.all(
      Array.from({ length: 30 }, (_, i) => batched.putSettled(`b${i}`, MODEL, finalAnswer(String(i)))),
    );

    // Then they went as one batch, and each is recorded
    expect(batched.counts).toEqual({ batches: 1, requests: 30 });
    const records = await Promise.all(Array.from({ length: 30 }, (_, i) => store.get(`b${i}`)));
    expect(records.map((r) => r?.final?.label)).toEqual(Array.from({ length: 30 }, (_, i) => String(i)));

    // And a redelivery's settle, later, leaves the first answer in place
    await batched.putSettled('b0', MODEL, finalAnswer('other'));
    await batched.flushed();
    expect((await store.get('b0'))?.final?.label).toBe('0');
  });

  it('with a linger, writes settles that come a few milliseconds apart as one batch', async () => {
    // Given settles batched over the store with a 200 ms linger
    const batched = new BatchedSettles(store, { lingerMs: 200 });

    // When three requests are settled 10 ms apart (one-request worker batches at a low rate)
    const settled: Promise<void>[] = [];
    for (let i = 0; i < 3; i++) {
      settled.push(batched.putSettled(`l${i}`, MODEL, finalAnswer(String(i))));
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await Promise.all(settled);

    // Then they went as one batch, and each is recorded
    expect(batched.counts).toEqual({ batches: 1, requests: 3 });
    const records = await Promise.all([0, 1, 2].map((i) => store.get(`l${i}`)));
    expect(records.map((r) => r?.final?.label)).toEqual(['0', '1', '2']);
  });

  it('writes a lingering batch at once when asked to flush, and refuses a negative linger', async () => {
    // Given a settle waiting out a linger far longer than the test
    const batched = new BatchedSettles(store, { lingerMs: 60_000 });
    const settled = batched.putSettled('f0', MODEL, finalAnswer('4'));

    // When the settles are flushed (as at shutdown)
    await batched.flushed();

    // Then it is recorded without waiting for the linger
    await settled;
    expect((await store.get('f0'))?.final?.label).toBe('4');
    expect(() => new BatchedSettles(store, { lingerMs: -1 })).toThrow(
      /lingerMs must be .* at least 0; got -1/,
    );
  });

  it('rejects every settle it could not record, so the worker hands their messages back', async () => {
    // Given a results table that does not exist
    const missing = new ResultStore({ client: local.doc, tableName: 'apparate-test-missing-results' });
    const batched = new BatchedSettles(missing);

    // When two requests are settled
    const settles = ['m1', 'm2'].map((id) =>
      batched.putSettled(id, MODEL, finalAnswer('1')).then(
        () => 'written',
        (error: Error) => error.name,
      ),
    );

    // Then each is rejected with the table's error
    expect(await Promise.all(settles)).toEqual(['ResourceNotFoundException', 'ResourceNotFoundException']);
  });
});
