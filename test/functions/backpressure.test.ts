/**
 * Backpressure at the front door: the ingest handler with admission control, dynalite, the
 * in-process queue and a stand-in for the worker that answers what it receives through the
 * in-process answer channel. A request the backlog cannot serve within its deadline is refused at
 * once with 429 and Retry-After and is never queued; admitted ones are answered.
 */
import type { APIGatewayProxyResult } from 'aws-lambda';
import { MemoryAnswerChannel } from '../../adapters/answers/memory-answer-channel';
import { AdmissionControl } from '../../functions/api/admission';
import { WriteBehind } from '../../functions/api/write-behind';
import { createIngestHandler } from '../../functions/ingest';
import { conformingBody } from './support/api-contract';
import {
  answerThroughChannel,
  blankImage,
  freshStores,
  startHandlerFixture,
  type HandlerFixture,
  type Stores,
} from './support/handler-fixture';
import { inferEvent } from './support/proxy-events';

const MODEL = 'mnist-resnet';

let fixture: HandlerFixture;
let stores: Stores;

beforeAll(async () => {
  fixture = await startHandlerFixture();
});

afterAll(async () => {
  await fixture.dynamo.close();
});

beforeEach(async () => {
  stores = await freshStores(fixture.dynamo);
});

afterEach(async () => {
  await stores.queue.close();
});

describe('admission control', () => {
  it('admits while the backlog fits the deadline at the service rate, and refuses beyond with Retry-After', () => {
    // Given a model served at 10 req/s
    const admission = new AdmissionControl({ serviceRatePerSec: () => 10 });

    // When requests with a 300 ms deadline arrive and none is answered
    const outcomes = Array.from({ length: 5 }, () => admission.tryAdmit(MODEL, 300));

    // Then three fit (the third waits 300 ms), the rest are refused with whole seconds to wait
    expect(outcomes.map((o) => o.admitted)).toEqual([true, true, true, false, false]);
    expect(outcomes[3]).toMatchObject({ admitted: false, ahead: 3, retryAfterS: 1 });
    expect(admission.counts).toEqual({ admitted: 3, refused: 2 });

    // And once one is answered, the next one fits again
    const first = outcomes[0];
    if (first?.admitted) first.release();
    if (first?.admitted) first.release(); // a second release changes nothing
    expect(admission.tryAdmit(MODEL, 300).admitted).toBe(true);
    expect(admission.tryAdmit(MODEL, 300).admitted).toBe(false);
  });

  it('never refuses a model whose rate is unknown', () => {
    const admission = new AdmissionControl({ serviceRatePerSec: () => undefined });
    expect(Array.from({ length: 100 }, () => admission.tryAdmit(MODEL, 1).admitted).every(Boolean)).toBe(
      true,
    );
  });
});

describe('the ingest handler under a burst', () => {
  it('answers the admitted requests and refuses the rest with 429 before queueing them', async () => {
    // Given an ingest handler whose model serves 20 req/s, with pushed answers
    const answers = new MemoryAnswerChannel();
    const admission = new AdmissionControl({ serviceRatePerSec: () => 20 });
    const failedWrites: string[] = [];
    const writeBehind = new WriteBehind({ onFailure: (what) => failedWrites.push(what) });
    const ingest = createIngestHandler({
      writeBehind,
      catalog: fixture.catalog,
      queueFor: (model) => (model === MODEL ? stores.queue : undefined),
      results: stores.results,
      answers,
      admission,
    });

    // When 12 sync requests with a 250 ms deadline arrive at once
    const responses: Promise<APIGatewayProxyResult>[] = Array.from({ length: 12 }, () =>
      ingest(inferEvent(MODEL, { inputs: blankImage(fixture.mnist), deadlineMs: 250 })),
    );
    // ... and a worker stand-in answers every request it receives, through the channel
    const serving = answerThroughChannel(stores, answers, MODEL, 5);
    const settled = await Promise.all(responses);
    const received = await serving;
    await writeBehind.drain();

    // Then the five that fit 250 ms at 20 req/s are answered, and seven are refused with 429
    const statuses = settled.map((r) => r.statusCode);
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(7);
    const refused = settled.find((r) => r.statusCode === 429) as APIGatewayProxyResult;
    expect(refused.headers?.['retry-after']).toMatch(/^[1-9]\d*$/);
    const body = conformingBody('POST', '/v1/models/{model}/infer', refused) as {
      error: { code: string; message: string };
    };
    expect(body.error.code).toBe('overloaded');
    expect(body.error.message).toMatch(/at capacity.*retry after \d+ s/);
    // ... nothing refused was queued, and every admitted request left nothing outstanding
    expect(received).toHaveLength(5);
    expect(await stores.queue.receive(10, 0)).toEqual([]);
    expect(answers.subscriptions).toBe(0);
    expect(admission.counts).toEqual({ admitted: 5, refused: 7 });
    // ... and no admitted request's acceptance was written: each was answered within the grace, so
    // the worker's record of its answer is the only write it costs
    expect(failedWrites).toEqual([]);
    const records = await Promise.all(received.map((id) => stores.results.get(id)));
    expect(records).toEqual(received.map(() => undefined));
  });
});

describe('recording acceptance with pushed answers', () => {
  const ingestWith = (answers: MemoryAnswerChannel, writeBehind: WriteBehind, acceptedGraceMs: number) =>
    createIngestHandler({
      writeBehind,
      catalog: fixture.catalog,
      queueFor: (model) => (model === MODEL ? stores.queue : undefined),
      results: stores.results,
      answers,
      acceptedGraceMs,
    });

  it('records a sync request as accepted once its answer is later than the grace', async () => {
    // Given pushed answers and a 50 ms grace
    const writeBehind = new WriteBehind({ onFailure: () => undefined });
    const ingest = ingestWith(new MemoryAnswerChannel(), writeBehind, 50);

    // When a sync request gets no answer before its 300 ms deadline
    const response = ingest(inferEvent(MODEL, { inputs: blankImage(fixture.mnist), deadlineMs: 300 }));
    const [message] = await stores.queue.receive(1, 2000);
    const requestId = message?.request.requestId as string;
    await new Promise((resolve) => setTimeout(resolve, 150));

    // Then, well before its deadline, readers find it pending, accepted with its deadline
    const record = await stores.results.get(requestId);
    expect(record?.status).toBe('pending');
    expect(record?.accepted?.deadlineAtMs).toBeGreaterThan(Date.now());
    expect((await response).statusCode).toBe(504);
  });

  it('records a request with an idempotency key as accepted at once, since a retry may look for it', async () => {
    // Given pushed answers and a grace far longer than the test
    const writeBehind = new WriteBehind({ onFailure: () => undefined });
    const answers = new MemoryAnswerChannel();
    const ingest = ingestWith(answers, writeBehind, 60_000);

    // When a sync request with an idempotency key is answered at once
    const response = ingest(
      inferEvent(
        MODEL,
        { inputs: blankImage(fixture.mnist), deadlineMs: 2000 },
        { 'idempotency-key': 'retry-me-1' },
      ),
    );
    const [message] = await stores.queue.receive(1, 2000);
    const requestId = message?.request.requestId as string;
    await answers.publish({
      kind: 'final',
      requestId,
      model: MODEL,
      label: '1',
      confidence: 0.9,
      latencyMs: 2,
      configVersion: 0,
      releasedAtMs: Date.now(),
    });
    expect((await response).statusCode).toBe(200);
    await writeBehind.drain();

    // Then its acceptance is recorded all the same
    expect((await stores.results.get(requestId))?.accepted).toBeDefined();
  });
});

describe('the drain rate the front door observes', () => {
  it('plans with the rate answers actually drain at while a backlog waits, when lower than the worker says', () => {
    // Given a worker that says it serves 100 req/s, behind a front door with a clock of its own
    let now = 0;
    const admission = new AdmissionControl({ serviceRatePerSec: () => 100, nowMs: () => now });

    // When 40 requests wait and are answered one every 50 ms (20 req/s: the stack is the bottleneck)
    const slots = Array.from({ length: 40 }, () => admission.tryAdmit(MODEL, 60_000));
    for (const slot of slots.slice(0, 30)) {
      now += 50;
      if (slot.admitted) slot.release();
    }

    // Then admission plans at the observed 20 req/s, not the worker's 100
    expect(admission.observedRatePerSec(MODEL)).toBeCloseTo(20, 5);
    expect(admission.ratePerSec(MODEL)).toBeCloseTo(20, 5);
    // ... so with 10 waiting, a 500 ms deadline fits 9 more at 20 req/s but would fit 49 at 100
    expect(admission.tryAdmit(MODEL, 500).admitted).toBe(false);

    // And requests that gave up at their deadline say nothing about the drain rate
    const fresh = new AdmissionControl({ serviceRatePerSec: () => 100, nowMs: () => now });
    const waiting = Array.from({ length: 40 }, () => fresh.tryAdmit(MODEL, 60_000));
    for (const slot of waiting.slice(0, 30)) {
      now += 50;
      if (slot.admitted) slot.release(false);
    }
    expect(fresh.observedRatePerSec(MODEL)).toBeUndefined();
    expect(fresh.ratePerSec(MODEL)).toBe(100);

    // And once the window has passed with no backlog, the worker's rate applies again
    now += 5_000;
    expect(admission.ratePerSec(MODEL)).toBe(100);
  });
});
