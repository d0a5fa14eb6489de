import type { APIGatewayProxyResult } from 'aws-lambda';
import { createIngestHandler, type IngestDependencies } from '../../functions/ingest';
import { createResultHandler } from '../../functions/result';
import type { ApiHandler } from '../../functions/api/http';
import { conformingBody } from './support/api-contract';
import { answerNext, blankImage, useHandlerFixture } from './support/handler-fixture';
import { inferEvent, requestEvent } from './support/proxy-events';

const MODEL = 'mnist-resnet';
const INFER = '/v1/models/{model}/infer';

const setup = useHandlerFixture();
let errors: string[];

beforeEach(() => {
  errors = [];
});

function ingestWith(overrides: Partial<IngestDependencies> = {}): ApiHandler {
  return createIngestHandler({
    catalog: setup.fixture.catalog,
    queueFor: (model) => (model === MODEL ? setup.stores.queue : undefined),
    results: setup.stores.results,
    readSchedule: { firstMs: 2, factor: 1.5, maxMs: 5 },
    onError: (message) => errors.push(message),
    ...overrides,
  });
}

/** The documented body of an infer response; throws when the response breaks the document. */
function inferBody(response: APIGatewayProxyResult): Record<string, unknown> {
  return conformingBody('POST', INFER, response) as Record<string, unknown>;
}

const early = { model: MODEL, label: '7', confidence: 0.93, exit: 'c1', latencyMs: 3.5, configVersion: 0 };
const final = { label: '7', confidence: 0.99, latencyMs: 9.25, configVersion: 0, agreesWithEarly: true };

describe('ingest handler, async', () => {
  it('queues the request with an absolute deadline and answers 202 with where to find the result', async () => {
    // Given an ingest handler on a fixed clock
    const nowMs = 1_750_000_000_000;
    const ingest = ingestWith({
      nowMs: () => nowMs,
      newRequestId: () => '3f6c2a9e-8d41-4b7a-9c0e-5d2f1a7b6c30',
    });

    // When an async request with a 2 s deadline arrives
    const response = await ingest(
      inferEvent(MODEL, { inputs: blankImage(setup.fixture.mnist), deadlineMs: 2000, mode: 'async' }),
    );

    // Then it is accepted with the link to its result
    expect(response.statusCode).toBe(202);
    const body = inferBody(response);
    expect(body).toEqual({
      requestId: '3f6c2a9e-8d41-4b7a-9c0e-5d2f1a7b6c30',
      model: MODEL,
      status: 'pending',
      deadlineAt: new Date(nowMs + 2000).toISOString(),
      links: { result: '/v1/requests/3f6c2a9e-8d41-4b7a-9c0e-5d2f1a7b6c30' },
    });
    expect(response.headers?.['location']).toBe('/v1/requests/3f6c2a9e-8d41-4b7a-9c0e-5d2f1a7b6c30');
    // And the queued request carries the input as sent and the absolute deadline
    const [message] = await setup.stores.queue.receive(1, 0);
    expect(message?.request).toEqual({
      requestId: '3f6c2a9e-8d41-4b7a-9c0e-5d2f1a7b6c30',
      model: MODEL,
      enqueuedAtMs: nowMs,
      deadlineAtMs: nowMs + 2000,
      input: blankImage(setup.fixture.mnist),
      mode: 'async',
    });
    // And the result reads as pending until the worker answers
    const result = createResultHandler({
      catalog: setup.fixture.catalog,
      results: setup.stores.results,
      configs: setup.stores.configs,
    });
    const pending = await result(requestEvent('3f6c2a9e-8d41-4b7a-9c0e-5d2f1a7b6c30'));
    expect(conformingBody('GET', '/v1/requests/{id}', pending)).toMatchObject({
      status: 'pending',
      model: MODEL,
    });
  });
});

describe('ingest handler, sync', () => {
  it('answers with the early answer as soon as a ramp releases it', async () => {
    // Given a worker that releases an early answer only
    const ingest = ingestWith();
    const worker = answerNext(setup.stores, () => ({ early }));

    // When a sync request arrives (mode left to its default)
    const response = await ingest(inferEvent(MODEL, { inputs: blankImage(setup.fixture.mnist) }));
    const request = await worker;

    // Then the early answer comes back with its ramp, config and latencies
    expect(response.statusCode).toBe(200);
    const body = inferBody(response);
    expect(body).toMatchObject({
      requestId: request?.requestId,
      model: MODEL,
      label: '7',
      confidence: 0.93,
      exit: 'c1',
      configVersion: 0,
      latencyMs: { worker: 3.5 },
    });
    expect(body['final']).toBeUndefined();
    expect(request?.mode).toBe('sync');
    expect(request?.deadlineAtMs).toBeGreaterThanOrEqual((request?.enqueuedAtMs ?? 0) + 4900);
  });

  it('answers with the full model’s answer, exit "final", when no ramp exits', async () => {
    const ingest = ingestWith();
    const worker = answerNext(setup.stores, () => ({
      final: { label: '3', confidence: 0.8, latencyMs: 12, configVersion: 4 },
    }));
    const response = await ingest(
      inferEvent(MODEL, { inputs: blankImage(setup.fixture.mnist), mode: 'sync' }),
    );
    await worker;
    expect(response.statusCode).toBe(200);
    expect(inferBody(response)).toMatchObject({
      label: '3',
      exit: 'final',
      configVersion: 4,
      latencyMs: { worker: 12 },
    });
  });

  it('carries the final answer beside the early one when both are known', async () => {
    // Given a worker that records both answers before the handler first reads the record
    const worker = answerNext(setup.stores, () => ({ early, final }));
    const results = setup.stores.results;
    const ingest = ingestWith({
      results: {
        putAccepted: (id, accepted) => results.putAccepted(id, accepted),
        putError: (id, error) => results.putError(id, error),
        get: async (id) => {
          await worker;
          return results.get(id);
        },
      },
    });

    // When a sync request is answered
    const response = await ingest(inferEvent(MODEL, { inputs: blankImage(setup.fixture.mnist) }));

    // Then it carries the early answer with the final one beside it
    expect(inferBody(response)).toMatchObject({ exit: 'c1', final: { label: '7', agreesWithEarly: true } });
  });

  it('answers 504 deadline_exceeded when no answer comes in time, naming the request to ask for later', async () => {
    // Given no worker at all
    const ingest = ingestWith();

    // When a sync request with a 30 ms deadline arrives
    const response = await ingest(
      inferEvent(MODEL, { inputs: blankImage(setup.fixture.mnist), deadlineMs: 30 }),
    );

    // Then it times out with a message saying how to get the answer later
    expect(response.statusCode).toBe(504);
    const body = inferBody(response) as { error: { code: string; message: string; requestId: string } };
    expect(body.error.code).toBe('deadline_exceeded');
    expect(body.error.message).toBe(
      `no answer within the deadline of 30 ms; the request may still be answered: GET /v1/requests/${body.error.requestId}`,
    );
  });

  it('passes on the worker’s own refusal with its status', async () => {
    // Given a worker that could not meet the deadline, then one that refused the input
    const ingest = ingestWith();
    const worker = answerNext(setup.stores, () => ({
      error: {
        code: 'deadline_exceeded',
        message: 'the request’s deadline cannot be met; it was not served',
      },
    }));
    const late = await ingest(inferEvent(MODEL, { inputs: blankImage(setup.fixture.mnist) }));
    await worker;
    const refusing = answerNext(setup.stores, () => ({
      error: { code: 'unknown_model', message: 'this worker serves x' },
    }));
    const misrouted = await ingest(inferEvent(MODEL, { inputs: blankImage(setup.fixture.mnist) }));
    await refusing;

    // Then the first is 504 and the second 502, each with the worker's words
    expect(late.statusCode).toBe(504);
    expect(inferBody(late)).toMatchObject({
      error: {
        code: 'deadline_exceeded',
        message: 'the request’s deadline cannot be met; it was not served',
      },
    });
    expect(misrouted.statusCode).toBe(502);
    expect(inferBody(misrouted)).toMatchObject({ error: { code: 'unknown_model' } });
  });
});

describe('ingest handler, bad requests', () => {
  const image = (): number[] => blankImage(setup.fixture.mnist);
  const nan = (): unknown[] => [...image().slice(1), null];

  it.each([
    [
      'malformed JSON',
      '{"inputs": [0, 0',
      400,
      'malformed_json',
      /^the body is not valid JSON \(.*\); send a JSON object such as \{"inputs": \.\.\.\}$/,
    ],
    ['no body', '', 400, 'malformed_json', /^the request has no body/],
    [
      'a body that is not an object',
      '[1, 2]',
      400,
      'invalid_request',
      /^the body must be a JSON object with fields inputs, deadlineMs \(optional\) and mode \(optional\); got an array$/,
    ],
    ['a missing inputs', { deadlineMs: 100 }, 400, 'invalid_request', /^inputs is required: the model input/],
    [
      'an unknown field',
      { input: [1], inputs: [1] },
      400,
      'invalid_request',
      /^unknown field "input"; allowed fields: inputs, deadlineMs, mode$/,
    ],
    [
      'a bad mode',
      { inputs: [1], mode: 'later' },
      400,
      'invalid_request',
      /^mode must be "sync" or "async"; got "later"$/,
    ],
    [
      'a past deadline',
      { inputs: [1], deadlineMs: 0 },
      400,
      'invalid_deadline',
      /^deadlineMs must be a whole number of milliseconds from 1 to 60000, counted from when the request arrives \(0 or less is already past\); got 0$/,
    ],
    [
      'a deadline over the maximum',
      { inputs: [1], deadlineMs: 60001, mode: 'async' },
      400,
      'invalid_deadline',
      /from 1 to 60000.*got 60001$/,
    ],
    ['a fractional deadline', { inputs: [1], deadlineMs: 2.5 }, 400, 'invalid_deadline', /got 2.5$/],
    [
      'a sync deadline beyond the sync wait',
      { inputs: [1], deadlineMs: 30000 },
      400,
      'invalid_deadline',
      /^deadlineMs: a sync request may wait at most 25000 ms; got 30000\. Send it with "mode": "async"/,
    ],
    [
      'the wrong shape',
      { inputs: [1, 2, 3] },
      422,
      'invalid_input',
      /^inputs: input must be an array of 784 grey values \(28x28\), each a number from 0 to 255, or \{"image": "<a PNG or JPEG file, base64>"\}; got an array of 3 values$/,
    ],
    [
      'text for an image model',
      { inputs: 'a seven' },
      422,
      'invalid_input',
      /^inputs: input must be an array of 784 grey values.*got a string$/,
    ],
  ])('refuses %s and queues nothing', async (_what, body, status, code, message) => {
    const response = await ingestWith()(inferEvent(MODEL, body));
    expect(response.statusCode).toBe(status);
    expect(inferBody(response)).toEqual({
      error: { code, message: expect.stringMatching(message) as unknown },
    });
    expect(await setup.stores.queue.receive(1, 0)).toEqual([]);
  });

  it('refuses NaN (which JSON carries as null) and out-of-range values, naming the value', async () => {
    const withNaN = await ingestWith()(inferEvent(MODEL, { inputs: nan() }));
    const tooBright = await ingestWith()(inferEvent(MODEL, { inputs: [...image().slice(1), 256] }));
    expect(withNaN.statusCode).toBe(422);
    expect(inferBody(withNaN)).toMatchObject({
      error: { code: 'invalid_input', message: expect.stringMatching(/value 783 is null$/) as unknown },
    });
    expect(inferBody(tooBright)).toMatchObject({
      error: { message: expect.stringMatching(/value 783 is 256$/) as unknown },
    });
    expect(await setup.stores.queue.receive(1, 0)).toEqual([]);
  });

  it('refuses an unknown model with 404, listing the served ones', async () => {
    const response = await ingestWith()(inferEvent('resnet-9000', { inputs: image() }));
    expect(response.statusCode).toBe(404);
    expect(inferBody(response)).toEqual({
      error: {
        code: 'unknown_model',
        message: 'model "resnet-9000" is not served here; served models: mnist-resnet',
      },
    });
  });

  it('refuses a body over the limit with 413 before parsing it', async () => {
    // Given a limit of 4 KiB and a body of about 5 KiB that is not even valid JSON
    const response = await ingestWith({ maxBodyBytes: 4096 })(
      inferEvent(MODEL, `{"inputs": "${'x'.repeat(5000)}`),
    );
    expect(response.statusCode).toBe(413);
    expect(inferBody(response)).toEqual({
      error: {
        code: 'body_too_large',
        message: 'the body is 5012 bytes; at most 4096 bytes (4 KiB) are accepted',
      },
    });
  });

  it('answers 503 when the queue refuses to take the request, and records the failure', async () => {
    // Given a queue that is down
    const ingest = ingestWith({
      queueFor: () => ({ send: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6379')) }),
    });

    // When a request arrives
    const response = await ingest(inferEvent(MODEL, { inputs: image(), mode: 'async' }));

    // Then it gets 503 with its id, the failure is logged, and its result says why
    expect(response.statusCode).toBe(503);
    const body = inferBody(response) as { error: { code: string; requestId: string } };
    expect(body.error.code).toBe('queue_unavailable');
    expect(errors).toEqual(['request not queued']);
    expect(await setup.stores.results.get(body.error.requestId)).toMatchObject({
      status: 'error',
      error: { code: 'queue_unavailable' },
    });
  });
});

describe('ingest handler, idempotency', () => {
  it('gives a retry with the same key the recorded answer without queueing it again', async () => {
    // Given a sync request with an idempotency key that was answered
    const ingest = ingestWith();
    const headers = { 'Idempotency-Key': 'order-2024-17' };
    const worker = answerNext(setup.stores, () => ({ early, final }));
    const first = await ingest(inferEvent(MODEL, { inputs: blankImage(setup.fixture.mnist) }, headers));
    await worker;

    // When the client retries it with the same key
    const retry = await ingest(inferEvent(MODEL, { inputs: blankImage(setup.fixture.mnist) }, headers));

    // Then the retry gets the same request's answer, and nothing more was queued
    expect(retry.statusCode).toBe(200);
    expect(inferBody(retry)).toMatchObject({
      requestId: inferBody(first)['requestId'],
      exit: 'c1',
      final: { label: '7' },
    });
    expect(await setup.stores.queue.receive(1, 0)).toEqual([]);
  });
});
