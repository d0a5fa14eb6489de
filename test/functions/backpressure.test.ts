/**
 * Backpressure at the front door: the ingest handler with admission control, dynalite, the
 * in-process queue and a stand-in for the worker that answers what it receives through the
 * in-process answer channel. A request, sync or async, the backlog cannot serve within its
 * deadline is refused at once with 429 and Retry-After and is never queued; admitted ones are
 * answered, and an async one keeps its place until its answer is pushed or its deadline passes.
 */
import type { APIGatewayProxyResult } from 'aws-lambda';
import { MemoryAnswerChannel } from '../../adapters/answers/memory-answer-channel';
import { AdmissionControl } from '../../functions/api/admission';
import { holdUntilAnswered } from '../../functions/api/async-hold';
import { WriteBehind } from '../../functions/api/write-behind';
import { createIngestHandler, createIngestHandlers } from '../../functions/ingest';
import { conformingBody } from './support/api-contract';
import { answerThroughChannel, blankImage, useHandlerFixture } from './support/handler-fixture';
import { inferEvent } from './support/proxy-events';

const MODEL = 'mnist-resnet';

const setup = useHandlerFixture();

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
      catalog: setup.fixture.catalog,
      queueFor: (model) => (model === MODEL ? setup.stores.queue : undefined),
      results: setup.stores.results,
      answers,
      admission,
    });

    // When 12 sync requests with a 250 ms deadline arrive at once
    const responses: Promise<APIGatewayProxyResult>[] = Array.from({ length: 12 }, () =>
      ingest(inferEvent(MODEL, { inputs: blankImage(setup.fixture.mnist), deadlineMs: 250 })),
    );
    // ... and a worker stand-in answers every request it receives, through the channel
    const serving = answerThroughChannel(setup.stores, answers, MODEL, 5);
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
    expect(await setup.stores.queue.receive(10, 0)).toEqual([]);
    expect(answers.subscriptions).toBe(0);
    expect(admission.counts).toEqual({ admitted: 5, refused: 7 });
    expect(admission.countsByMode.sync).toEqual({ admitted: 5, refused: 7 });
    // ... and no admitted request's acceptance was written: each was answered within the grace, so
    // the worker's record of its answer is the only write it costs
    expect(failedWrites).toEqual([]);
    const records = await Promise.all(received.map((id) => setup.stores.results.get(id)));
    expect(records).toEqual(received.map(() => undefined));
  });
});

describe('recording acceptance with pushed answers', () => {
  const ingestWith = (answers: MemoryAnswerChannel, writeBehind: WriteBehind, acceptedGraceMs: number) =>
    createIngestHandler({
      writeBehind,
      catalog: setup.fixture.catalog,
      queueFor: (model) => (model === MODEL ? setup.stores.queue : undefined),
      results: setup.stores.results,
      answers,
      acceptedGraceMs,
    });

  it('records a sync request as accepted before the 504 that names it, and not while it waits', async () => {
    // Given pushed answers and a 50 ms grace (which applies to streams, whose headers name the id)
    const writeBehind = new WriteBehind({ onFailure: () => undefined });
    const ingest = ingestWith(new MemoryAnswerChannel(), writeBehind, 50);

    // When a sync request gets no answer before its 300 ms deadline
    const response = ingest(inferEvent(MODEL, { inputs: blankImage(setup.fixture.mnist), deadlineMs: 300 }));
    const [message] = await setup.stores.queue.receive(1, 2000);
    const requestId = message?.request.requestId as string;
    await new Promise((resolve) => setTimeout(resolve, 150));

    // Then nothing is written while it waits: nobody but this response can know its id ...
    expect(await setup.stores.results.get(requestId)).toBeUndefined();

    // ... and once the 504 names the id, a GET finds the request pending, accepted with its deadline
    const answered = await response;
    expect(answered.statusCode).toBe(504);
    expect((JSON.parse(answered.body) as { error: { requestId: string } }).error.requestId).toBe(requestId);
    const record = await setup.stores.results.get(requestId);
    expect(record?.status).toBe('pending');
    expect(record?.accepted?.deadlineAtMs).toBeLessThanOrEqual(Date.now());
  });

  it('records a streamed request as accepted once its answer is later than the grace: its headers name the id', async () => {
    // Given pushed answers and a 50 ms grace
    const writeBehind = new WriteBehind({ onFailure: () => undefined });
    const { stream } = createIngestHandlers({
      writeBehind,
      catalog: setup.fixture.catalog,
      queueFor: (model) => (model === MODEL ? setup.stores.queue : undefined),
      results: setup.stores.results,
      answers: new MemoryAnswerChannel(),
      acceptedGraceMs: 50,
    });
    const headers: Record<string, string>[] = [];
    const events: string[] = [];

    // When a streamed request gets no answer before its 300 ms deadline
    const streamed = stream(
      inferEvent(
        MODEL,
        { inputs: blankImage(setup.fixture.mnist), deadlineMs: 300 },
        { accept: 'text/event-stream' },
      ),
      {
        open: (_status, sent) => headers.push(sent),
        write: (text) => events.push(text),
        end: () => undefined,
      },
    );
    const [message] = await setup.stores.queue.receive(1, 2000);
    const requestId = message?.request.requestId as string;
    await new Promise((resolve) => setTimeout(resolve, 150));

    // Then, well before its deadline, the id the stream's headers named reads as pending
    expect(headers[0]?.['x-request-id']).toBe(requestId);
    const record = await setup.stores.results.get(requestId);
    expect(record?.status).toBe('pending');
    expect(record?.accepted?.deadlineAtMs).toBeGreaterThan(Date.now());
    expect(await streamed).toBeUndefined();
    expect(events.join('')).toContain('deadline_exceeded');
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
        { inputs: blankImage(setup.fixture.mnist), deadlineMs: 2000 },
        { 'idempotency-key': 'retry-me-1' },
      ),
    );
    const [message] = await setup.stores.queue.receive(1, 2000);
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
    expect((await setup.stores.results.get(requestId))?.accepted).toBeDefined();
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

describe('admission of async requests', () => {
  const asyncIngest = (
    answers: MemoryAnswerChannel | undefined,
    admission: AdmissionControl,
    writeBehind = new WriteBehind({ onFailure: () => undefined }),
  ) =>
    createIngestHandler({
      writeBehind,
      catalog: setup.fixture.catalog,
      queueFor: (model) => (model === MODEL ? setup.stores.queue : undefined),
      results: setup.stores.results,
      ...(answers === undefined ? {} : { answers }),
      admission,
    });

  /** Resolves once `done()` holds, polling; fails the test after `limitMs`. */
  async function until(done: () => boolean, limitMs = 10_000): Promise<void> {
    const start = Date.now();
    while (!done()) {
      if (Date.now() - start > limitMs) throw new Error('condition not reached');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  it('answers 202 while the backlog fits the deadline and 429 with Retry-After beyond, keeping each place until its answer is pushed', async () => {
    // Given an ingest handler whose model serves one request every 5 s, with pushed answers (the
    // deadlines below are long enough that no place is freed by its deadline during the test)
    const answers = new MemoryAnswerChannel();
    const admission = new AdmissionControl({ serviceRatePerSec: () => 0.2 });
    const ingest = asyncIngest(answers, admission);

    // When 12 async requests with a 25 s deadline arrive at once
    const settled = await Promise.all(
      Array.from({ length: 12 }, () =>
        ingest(
          inferEvent(MODEL, { inputs: blankImage(setup.fixture.mnist), deadlineMs: 25_000, mode: 'async' }),
        ),
      ),
    );

    // Then the five that fit 25 s at 0.2 req/s are accepted, and seven are refused with 429
    const statuses = settled.map((r) => r.statusCode);
    expect(statuses.filter((s) => s === 202)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(7);
    const refused = settled.find((r) => r.statusCode === 429) as APIGatewayProxyResult;
    expect(refused.headers?.['retry-after']).toMatch(/^[1-9]\d*$/);
    const body = conformingBody('POST', '/v1/models/{model}/infer', refused) as {
      error: { code: string; message: string };
    };
    expect(body.error.code).toBe('overloaded');
    // ... counted as async refusals
    expect(admission.countsByMode.async).toEqual({ admitted: 5, refused: 7 });
    expect(admission.countsByMode.sync).toEqual({ admitted: 0, refused: 0 });
    // ... and the accepted five still hold their places, so a sync request behind them is refused too
    expect(admission.outstandingFor(MODEL)).toBe(5);
    const syncBehind = await ingest(
      inferEvent(MODEL, { inputs: blankImage(setup.fixture.mnist), deadlineMs: 25_000 }),
    );
    expect(syncBehind.statusCode).toBe(429);

    // When a worker stand-in answers the five queued requests through the channel
    const received = await answerThroughChannel(setup.stores, answers, MODEL, 5);

    // Then only the accepted five were queued, their places are free again and nobody listens any more
    expect(received).toHaveLength(5);
    expect(await setup.stores.queue.receive(10, 0)).toEqual([]);
    expect(admission.outstandingFor(MODEL)).toBe(0);
    expect(answers.subscriptions).toBe(0);
    // ... and a new async request is accepted
    const next = await ingest(
      inferEvent(MODEL, { inputs: blankImage(setup.fixture.mnist), deadlineMs: 25_000, mode: 'async' }),
    );
    expect(next.statusCode).toBe(202);
  });

  it('frees the place of an async request that gets no answer once its deadline has passed', async () => {
    // Given pushed answers and a model served at 20 req/s
    const answers = new MemoryAnswerChannel();
    const admission = new AdmissionControl({ serviceRatePerSec: () => 20 });
    const ingest = asyncIngest(answers, admission);

    // When an async request with a 100 ms deadline is accepted and nothing answers it
    const response = await ingest(
      inferEvent(MODEL, { inputs: blankImage(setup.fixture.mnist), deadlineMs: 100, mode: 'async' }),
    );
    expect(response.statusCode).toBe(202);
    expect(admission.outstandingFor(MODEL)).toBe(1);

    // Then its place is released at the deadline and its subscription ends
    await until(() => admission.outstandingFor(MODEL) === 0);
    expect(answers.subscriptions).toBe(0);
    // ... and, since it ended unanswered, it is no evidence of a drain rate
    expect(admission.observedRatePerSec(MODEL)).toBeUndefined();
  });

  it('gives the place back at once when the request cannot be queued', async () => {
    // Given a queue that refuses every request
    const answers = new MemoryAnswerChannel();
    const admission = new AdmissionControl({ serviceRatePerSec: () => 20 });
    const ingest = createIngestHandler({
      catalog: setup.fixture.catalog,
      queueFor: () => ({ send: () => Promise.reject(new Error('queue down')) }),
      results: setup.stores.results,
      answers,
      admission,
      onError: () => undefined,
    });

    // When an async request arrives
    const response = await ingest(
      inferEvent(MODEL, { inputs: blankImage(setup.fixture.mnist), deadlineMs: 5000, mode: 'async' }),
    );

    // Then it gets 503, and neither a place nor a subscription is left behind
    expect(response.statusCode).toBe(503);
    expect(admission.outstandingFor(MODEL)).toBe(0);
    expect(answers.subscriptions).toBe(0);
  });

  it('without pushed answers holds a place for the wait admission predicted, at most until the deadline', async () => {
    // Given a model served at 20 req/s and no answer channel (as on AWS)
    let released: boolean[] = [];
    const hold = (predictedWaitMs: number | undefined, deadlineInMs: number) =>
      holdUntilAnswered({
        answers: undefined,
        requestId: 'r',
        deadlineAtMs: Date.now() + deadlineInMs,
        predictedWaitMs,
        release: (answered) => released.push(answered),
      });

    // When a request is held for a predicted 50 ms with a minute to its deadline
    await hold(50, 60_000);
    // Then its place is released, unanswered, after the predicted wait
    await until(() => released.length === 1);
    expect(released).toEqual([false]);

    // And a request whose deadline comes before the predicted wait is released by then
    released = [];
    await hold(60_000, 50);
    await until(() => released.length === 1);
    expect(released).toEqual([false]);

    // And abandoning a hold releases it once, whatever comes after
    released = [];
    const abandon = await hold(60_000, 60_000);
    abandon();
    abandon();
    expect(released).toEqual([false]);
  });
});
