/**
 * The publishing sink in front of the results table (dynalite): answers reach the channel the
 * moment they are released, while the durable record costs one write per request, because a held
 * early answer is written together with its final answer; an error or a missing final answer
 * still gets the early answer written on its own.
 */
import { MemoryAnswerChannel } from '../../adapters/answers/memory-answer-channel';
import type { AnswerEvent } from '../../adapters/answers';
import { ResultStore } from '../../adapters/dynamo/result-store';
import { PublishingResultSink } from '../../gpu-worker/publishing-result-sink';
import type { AnswerError, EarlyAnswer, FinalAnswer } from '../../core/serving/answers';
import { StoreResultSink, type ResultSink } from '../../core/serving/result-sink';
import { startLocalDynamo, type LocalDynamo } from '../adapters/dynamo/local-dynamo';

const MODEL = 'mnist-resnet';
const early: EarlyAnswer = {
  model: MODEL,
  label: '7',
  classIndex: 7,
  confidence: 0.97,
  exit: 'c2',
  latencyMs: 3,
  configVersion: 1,
  releasedAtMs: 1,
};
const final: FinalAnswer = {
  model: MODEL,
  label: '7',
  classIndex: 7,
  confidence: 0.99,
  latencyMs: 9,
  agreesWithEarly: true,
  configVersion: 1,
  releasedAtMs: 2,
};

/** The real table sink, counting the writes each kind of call makes. */
class CountingSink implements ResultSink {
  readonly writes: string[] = [];
  constructor(private readonly inner: StoreResultSink) {}
  early(id: string, answer: EarlyAnswer): Promise<void> {
    this.writes.push(`early ${id}`);
    return this.inner.early(id, answer);
  }
  final(id: string, answer: FinalAnswer): Promise<void> {
    this.writes.push(`final ${id}`);
    return this.inner.final(id, answer);
  }
  error(id: string, error: AnswerError): Promise<void> {
    this.writes.push(`error ${id}`);
    return this.inner.error(id, error);
  }
  settle(id: string, answer: FinalAnswer, held: EarlyAnswer | undefined): Promise<void> {
    this.writes.push(`settle ${id}${held === undefined ? '' : ' with early'}`);
    const settle = this.inner.settle;
    if (settle === undefined) throw new Error('the results table writes both answers at once');
    return settle(id, answer, held);
  }
}

let local: LocalDynamo;
let store: ResultStore;
let durable: CountingSink;
let channel: MemoryAnswerChannel;
let published: AnswerEvent[];

beforeAll(async () => {
  local = await startLocalDynamo();
});

afterAll(async () => {
  await local.close();
});

beforeEach(async () => {
  const tables = await local.freshTables();
  store = new ResultStore({ client: local.doc, tableName: tables.results });
  durable = new CountingSink(new StoreResultSink(store));
  channel = new MemoryAnswerChannel();
  published = [];
  for (const id of ['a', 'b', 'c', 'd']) await channel.subscribe(id, (event) => published.push(event));
});

describe('the publishing result sink', () => {
  it('publishes the early answer at once and writes it with the final answer, once per request', async () => {
    const sink = new PublishingResultSink(channel, durable);

    // When a request exits early, and its batch ends later
    const earlyStored = sink.early('a', early);
    await new Promise((resolve) => setTimeout(resolve, 20));

    // Then the early answer is published at once, and held, not written
    expect(published.map((e) => e.kind)).toEqual(['early']);
    expect(durable.writes).toEqual([]);
    expect(sink.holding).toBe(1);

    // And the final answer writes both in one write, which settles the early answer's promise too
    await sink.final('a', final);
    await earlyStored;
    expect(published.map((e) => e.kind)).toEqual(['early', 'final']);
    expect(durable.writes).toEqual(['settle a with early']);
    const record = await store.get('a');
    expect(record).toMatchObject({
      status: 'final',
      model: MODEL,
      early: { exit: 'c2' },
      final: { label: '7' },
    });
    expect(sink.holding).toBe(0);

    // And a request that exits nowhere is one write as well
    await sink.final('b', final);
    expect(durable.writes).toEqual(['settle a with early', 'settle b']);
  });

  it('writes a held early answer on its own when an error comes instead, or when no final answer comes in time', async () => {
    const sink = new PublishingResultSink(channel, durable, () => undefined, 30);

    // When one request's batch fails after its early release
    const heldC = sink.early('c', early);
    await sink.error('c', { code: 'internal_error', message: 'the batch failed' });
    await heldC;

    // Then its early answer is written before the error, and stays readable
    expect(durable.writes).toEqual(['early c', 'error c']);
    expect(await store.get('c')).toMatchObject({ status: 'error', early: { exit: 'c2' } });

    // And an early answer whose final answer never comes is written after the hold limit
    await sink.early('d', early);
    expect(durable.writes).toEqual(['early c', 'error c', 'early d']);
    expect((await store.get('d'))?.status).toBe('early');
  });
});
