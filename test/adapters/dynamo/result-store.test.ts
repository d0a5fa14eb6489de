import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { ArtifactError, InputError } from '../../../core/errors';
import {
  ResultStore,
  type StoredEarlyAnswer,
  type StoredFinalAnswer,
} from '../../../adapters/dynamo/result-store';
import { useLocalDynamo } from './local-dynamo';

const NOW_MS = 1_750_000_000_000;
const DAY_S = 86_400;

const early: StoredEarlyAnswer = {
  model: 'mnist-resnet',
  label: 7,
  confidence: 0.97,
  exit: 'block2',
  latencyMs: 4.5,
  configVersion: 3,
};
const final: StoredFinalAnswer = { label: 7, confidence: 0.99, latencyMs: 11.25, agreesWithEarly: true };

const dynamo = useLocalDynamo();
let nowMs: number;
let store: ResultStore;

beforeEach(() => {
  nowMs = NOW_MS;
  store = new ResultStore({ client: dynamo.local.doc, tableName: dynamo.tables.results, nowMs: () => nowMs });
});

describe('result store', () => {
  it('keeps the early answer when the final one arrives, and reports both', async () => {
    // Given an early answer recorded
    expect(await store.putEarly('r1', early)).toBe(true);
    expect((await store.get('r1'))?.status).toBe('early');

    // When the final answer arrives
    nowMs += 7;
    expect(await store.putFinal('r1', final)).toBe(true);

    // Then the record holds both, each as recorded
    expect(await store.get('r1')).toEqual({
      requestId: 'r1',
      status: 'final',
      model: 'mnist-resnet',
      early: {
        label: 7,
        confidence: 0.97,
        exit: 'block2',
        latencyMs: 4.5,
        configVersion: 3,
        recordedAtMs: NOW_MS,
      },
      final: {
        label: 7,
        confidence: 0.99,
        latencyMs: 11.25,
        agreesWithEarly: true,
        recordedAtMs: NOW_MS + 7,
      },
      // A day after the last write, rounded up to a whole second
      expiresAt: NOW_MS / 1000 + DAY_S + 1,
    });
  });

  it('records a settled request, early and final answers and its model, in one write with the same rules', async () => {
    // Given a request that failed once on an earlier delivery
    await store.putError('r9', { code: 'internal_error', message: 'worker lost' });

    // When its final answer and the early one before it are recorded together
    await store.putSettled('r9', 'mnist-resnet', final, early);

    // Then both are there, with the model, and the error is gone
    expect(await store.get('r9')).toEqual({
      requestId: 'r9',
      status: 'final',
      model: 'mnist-resnet',
      early: {
        label: 7,
        confidence: 0.97,
        exit: 'block2',
        latencyMs: 4.5,
        configVersion: 3,
        recordedAtMs: NOW_MS,
      },
      final: { ...final, recordedAtMs: NOW_MS },
      expiresAt: Math.ceil(NOW_MS / 1000) + DAY_S,
    });

    // And a redelivery's answers change neither (first write wins)
    nowMs += 50;
    await store.putSettled('r9', 'mnist-resnet', { ...final, label: 1 }, { ...early, label: 1 });
    const again = await store.get('r9');
    expect(again?.final?.label).toBe(7);
    expect(again?.early?.label).toBe(7);

    // And a final answer without an early one is recorded alone
    await store.putSettled('r10', 'mnist-resnet', { label: 3, confidence: 0.8, latencyMs: 9 });
    expect((await store.get('r10'))?.early).toBeUndefined();
    expect((await store.get('r10'))?.status).toBe('final');

    // And answers of two models for one request are refused before anything is written
    await expect(store.putSettled('r11', 'spam-bert', final, early)).rejects.toThrow(InputError);
    expect(await store.get('r11')).toBeUndefined();
  });

  it('never lets a late early answer clobber the final one', async () => {
    // Given a final answer recorded first (the early write was retried after it)
    await store.putFinal('r2', { label: 'spam', confidence: 0.9, latencyMs: 20 });

    // When an early answer with a different label arrives
    const recorded = await store.putEarly('r2', { ...early, label: 'ham', confidence: 0.8 });

    // Then the final answer's fields are untouched and the early one sits beside it
    const record = await store.get('r2');
    expect(recorded).toBe(true);
    expect(record?.status).toBe('final');
    expect(record?.final).toEqual({ label: 'spam', confidence: 0.9, latencyMs: 20, recordedAtMs: NOW_MS });
    expect(record?.early?.label).toBe('ham');
  });

  it('treats repeated writes of the same request as harmless', async () => {
    // Given both answers recorded
    await store.putEarly('r3', early);
    await store.putFinal('r3', final);
    const before = await store.get('r3');

    // When a redelivery writes them again, even with different values
    nowMs += 1000;
    const earlyAgain = await store.putEarly('r3', { ...early, label: 1, confidence: 0.5 });
    const finalAgain = await store.putFinal('r3', { ...final, label: 1 });

    // Then both writes report a duplicate and the first answers stand (only the expiry moves on)
    expect([earlyAgain, finalAgain]).toEqual([false, false]);
    const after = await store.get('r3');
    expect(after?.early).toEqual(before?.early);
    expect(after?.final).toEqual(before?.final);
    expect(after?.expiresAt).toBe((before?.expiresAt ?? 0) + 1);
  });

  it('records errors, never over a final answer, and lets a later final answer replace one', async () => {
    // Given a request that failed
    expect(await store.putError('r4', { code: 'deadline_exceeded', message: 'x'.repeat(5000) })).toBe(true);
    const failed = await store.get('r4');
    expect(failed?.status).toBe('error');
    expect(failed?.error?.code).toBe('deadline_exceeded');
    expect(failed?.error?.message).toHaveLength(1024);

    // When a redelivery succeeds and a later redundant delivery fails again
    await store.putFinal('r4', final);
    const lateError = await store.putError('r4', { code: 'worker_crashed', message: 'late' });

    // Then the final answer stands and no error is shown
    const record = await store.get('r4');
    expect(lateError).toBe(false);
    expect(record?.status).toBe('final');
    expect(record?.error).toBeUndefined();
  });

  it('keeps a released early answer readable when the rest of the request fails', async () => {
    // Given an early answer released, then a failure before the final answer
    await store.putEarly('r5', early);
    await store.putError('r5', { code: 'inference_failed', message: 'segment 3 failed' });

    // When the record is read
    const record = await store.get('r5');

    // Then it says the request failed, and still carries the early answer
    expect(record?.status).toBe('error');
    expect(record?.early?.label).toBe(7);
  });

  it('sets a TTL on every item, one day after the last write unless configured', async () => {
    // Given a store with the default TTL and one with an hour
    const hourly = new ResultStore({
      client: dynamo.local.doc,
      tableName: dynamo.tables.results,
      ttlMs: 3_600_000,
      nowMs: () => nowMs,
    });

    // When each records an answer
    await store.putEarly('r6', early);
    await hourly.putError('r7', { code: 'invalid_input', message: 'NaN in input' });

    // Then the stored items carry expiresAt in epoch seconds
    const raw = async (requestId: string): Promise<unknown> =>
      (await dynamo.local.doc.send(new GetCommand({ TableName: dynamo.tables.results, Key: { requestId } })))
        .Item?.['expiresAt'];
    expect(await raw('r6')).toBe(NOW_MS / 1000 + DAY_S);
    expect(await raw('r7')).toBe(NOW_MS / 1000 + 3600);
  });

  it('reports an accepted request as pending until its first answer, keeping its deadline', async () => {
    // Given a request marked accepted by the ingest side, twice (a client retry)
    const first = await store.putAccepted('r11', { model: 'mnist-resnet', deadlineAtMs: NOW_MS + 5000 });
    const repeat = await store.putAccepted('r11', { model: 'mnist-resnet', deadlineAtMs: NOW_MS + 9000 });
    const pending = await store.get('r11');

    // When the worker then records its answers
    await store.putEarly('r11', early);
    const answered = await store.get('r11');
    await store.putFinal('r11', final);
    const finished = await store.get('r11');

    // Then the request was pending with the first deadline, then early, then final
    expect([first, repeat]).toEqual([true, false]);
    expect(pending).toEqual({
      requestId: 'r11',
      status: 'pending',
      model: 'mnist-resnet',
      accepted: { deadlineAtMs: NOW_MS + 5000, recordedAtMs: NOW_MS },
      expiresAt: NOW_MS / 1000 + DAY_S,
    });
    expect(answered?.status).toBe('early');
    expect(finished).toMatchObject({ status: 'final', accepted: { deadlineAtMs: NOW_MS + 5000 } });
  });

  it('answers undefined for an unknown request and for an expired one', async () => {
    // Given an answer recorded now
    await store.putEarly('r8', early);

    // When an unknown id is read, and the known one after its TTL (DynamoDB may not have deleted it yet)
    const unknown = await store.get('never-seen');
    nowMs += DAY_S * 1000 + 1;
    const expired = await store.get('r8');

    // Then neither is returned
    expect(unknown).toBeUndefined();
    expect(expired).toBeUndefined();
  });

  it('refuses to serve a corrupt stored item', async () => {
    // Given an item written by something else, with a confidence that is not a number
    await dynamo.local.doc.send(
      new PutCommand({
        TableName: dynamo.tables.results,
        Item: {
          requestId: 'r9',
          early: {
            label: 1,
            confidence: 'high',
            exit: 'b1',
            latencyMs: 1,
            configVersion: 0,
            recordedAtMs: 1,
          },
          expiresAt: NOW_MS / 1000 + DAY_S,
        },
      }),
    );

    // When it is read, then the read fails naming the bad field
    await expect(store.get('r9')).rejects.toThrow(ArtifactError);
    await expect(store.get('r9')).rejects.toThrow(/early\.confidence/);
  });

  it('refuses invalid answers before writing anything', async () => {
    // When answers outside the schema are given, then they are refused as the caller's mistake
    await expect(store.putEarly('r10', { ...early, confidence: 1.5 })).rejects.toThrow(InputError);
    await expect(store.putFinal('', final)).rejects.toThrow(InputError);
    await expect(store.putError('r10', { code: '', message: 'm' })).rejects.toThrow(InputError);
    expect(await store.get('r10')).toBeUndefined();
  });
});
