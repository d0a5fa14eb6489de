import { ENV } from '../../../core/deployment/cloud-names';
import { InputError } from '../../../core/errors';
import { ingestHandlerFromEnvironment } from '../../../functions/ingest';
import { resultHandlerFromEnvironment } from '../../../functions/result';
import { parseJsonBody } from '../../../functions/api/request-body';
import { requestIdentity, uuidFromKey } from '../../../functions/api/request-id';
import { matchRoute } from '../../../functions/api/routes';
import { requestIdSchema } from '../../../functions/api/schemas';
import { proxyEvent } from '../support/proxy-events';

describe('request body', () => {
  it('parses a JSON body within the limit, plain or base64-encoded', () => {
    // Given the same JSON body sent plain and base64-encoded
    const text = '{"inputs":"héllo"}';

    // Then both parse to the same value
    expect(parseJsonBody({ body: text, isBase64Encoded: false }, 1024)).toEqual({
      ok: true,
      value: { inputs: 'héllo' },
    });
    expect(
      parseJsonBody({ body: Buffer.from(text).toString('base64'), isBase64Encoded: true }, 1024),
    ).toEqual({ ok: true, value: { inputs: 'héllo' } });
  });

  it('refuses a body over the limit by its bytes, before parsing it', () => {
    // Given a limit of 10 bytes and bodies of 11 bytes (one of them not even JSON)
    const multibyte = '"ééééé"'; // 7 characters, 12 bytes

    // Then each is refused with 413 saying the size and the limit
    const refusals = ['{"a":12345}', 'not json!!!', multibyte].map((body) =>
      parseJsonBody({ body, isBase64Encoded: false }, 10),
    );
    expect(refusals).toEqual([
      {
        ok: false,
        problem: {
          status: 413,
          code: 'body_too_large',
          message: expect.stringMatching(/^the body is 11 bytes; at most 10 bytes/) as unknown,
        },
      },
      {
        ok: false,
        problem: {
          status: 413,
          code: 'body_too_large',
          message: expect.stringMatching(/^the body is 11 bytes;/) as unknown,
        },
      },
      {
        ok: false,
        problem: {
          status: 413,
          code: 'body_too_large',
          message: expect.stringMatching(/^the body is 12 bytes;/) as unknown,
        },
      },
    ]);
  });

  it('refuses an empty body and malformed JSON with 400 and what to send instead', () => {
    // When an empty body and a broken one are parsed
    const empty = parseJsonBody({ body: null, isBase64Encoded: false }, 1024);
    const broken = parseJsonBody({ body: '{"inputs": [1, 2', isBase64Encoded: false }, 1024);

    // Then both are 400 malformed_json with an example of a good body
    expect(empty).toEqual({
      ok: false,
      problem: {
        status: 400,
        code: 'malformed_json',
        message: expect.stringContaining('{"inputs": ...}') as unknown,
      },
    });
    expect(broken).toEqual({
      ok: false,
      problem: {
        status: 400,
        code: 'malformed_json',
        message: expect.stringMatching(
          /^the body is not valid JSON \(.*\); send a JSON object such as \{"inputs": \.\.\.\}$/,
        ) as unknown,
      },
    });
  });
});

describe('routes', () => {
  it('finds the route and decodes its path parameters', () => {
    // Then each route is found with its parameters, percent-decoded
    expect(matchRoute('POST', '/v1/models/mnist%2Dresnet/infer')).toMatchObject({
      kind: 'found',
      route: { resource: '/v1/models/{model}/infer', target: 'ingest' },
      pathParameters: { model: 'mnist-resnet' },
    });
    expect(matchRoute('get', '/v1/models')).toMatchObject({ kind: 'found', route: { target: 'result' } });
    expect(matchRoute('GET', '/openapi.json')).toMatchObject({ kind: 'found', pathParameters: {} });
  });

  it('tells a wrong method from an unknown path', () => {
    expect(matchRoute('GET', '/v1/models/m/infer')).toEqual({ kind: 'wrong-method', allowed: ['POST'] });
    expect(matchRoute('DELETE', '/v1/models')).toEqual({ kind: 'wrong-method', allowed: ['GET'] });
    expect(matchRoute('GET', '/v1/models/m')).toEqual({ kind: 'not-found' });
    expect(matchRoute('POST', '/v1/models//infer')).toEqual({ kind: 'not-found' });
    expect(matchRoute('POST', '/v1/models/%E0%A4%A/infer')).toEqual({ kind: 'not-found' });
  });
});

describe('request ids', () => {
  const event = (headers: Record<string, string>, apiKeyId?: string) =>
    proxyEvent({ method: 'POST', resource: '/', path: '/', headers, ...(apiKeyId ? { apiKeyId } : {}) });

  it('gives a fresh id without a key, and the same UUID for the same key, model and API key', () => {
    // When ids are taken for requests with and without keys
    const fresh = requestIdentity(event({}), 'm', () => 'fresh-id');
    const keyed = requestIdentity(event({ 'Idempotency-Key': 'order-17' }, 'k1'), 'm');
    const again = requestIdentity(event({ 'idempotency-key': 'order-17' }, 'k1'), 'm');
    const otherCaller = requestIdentity(event({ 'idempotency-key': 'order-17' }, 'k2'), 'm');
    const otherModel = requestIdentity(event({ 'idempotency-key': 'order-17' }, 'k1'), 'n');

    // Then only the same key from the same caller for the same model meets the same id
    expect(fresh).toEqual({ ok: true, requestId: 'fresh-id', idempotent: false });
    if (!keyed.ok || !again.ok || !otherCaller.ok || !otherModel.ok) throw new Error('unexpected refusal');
    expect(again.requestId).toBe(keyed.requestId);
    expect(otherCaller.requestId).not.toBe(keyed.requestId);
    expect(otherModel.requestId).not.toBe(keyed.requestId);
    expect(requestIdSchema.safeParse(keyed.requestId).success).toBe(true);
    expect(uuidFromKey('x')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('refuses a key that is empty, too long or not visible ASCII', () => {
    for (const key of ['', 'x'.repeat(129), 'has space', 'naïve']) {
      const identity = requestIdentity(event({ 'idempotency-key': key }), 'm');
      expect(identity).toMatchObject({
        ok: false,
        problem: { status: 400, code: 'invalid_idempotency_key' },
      });
    }
  });
});

describe('deployed handlers', () => {
  it('name every missing environment variable on the first invocation', () => {
    // Given an environment with only the model set
    const env = { [ENV.model]: 'mnist-resnet', [ENV.bundlePrefix]: 'bundles' };

    // Then wiring fails with one InputError naming what is missing and what it must hold
    expect(() => ingestHandlerFromEnvironment(env)).toThrow(InputError);
    expect(() => ingestHandlerFromEnvironment(env)).toThrow(
      /APPARATE_BUNDLE_BUCKET: is not set; it must hold the S3 bucket holding the bundles; APPARATE_BUNDLE_PREFIX: must be empty or a key prefix ending in "\/".*APPARATE_RESULTS_TABLE: is not set.*APPARATE_QUEUE_URL: is not set.*APPARATE_DLQ_URL: is not set/,
    );
    expect(() => resultHandlerFromEnvironment({ ...env, [ENV.bundlePrefix]: '' })).toThrow(
      /APPARATE_BUNDLE_BUCKET: is not set.*APPARATE_RESULTS_TABLE: is not set.*APPARATE_CONFIGS_TABLE: is not set/,
    );
  });

  it('wire themselves from a complete environment without calling AWS', () => {
    // Given every variable the CDK app sets
    const env = {
      [ENV.model]: 'mnist-resnet',
      [ENV.bundleBucket]: 'bundles',
      [ENV.bundlePrefix]: 'prod/',
      [ENV.resultsTable]: 'apparate-results',
      [ENV.configsTable]: 'apparate-configs',
      [ENV.queueUrl]: 'https://sqs.us-east-1.amazonaws.com/123456789012/requests',
      [ENV.deadLetterQueueUrl]: 'https://sqs.us-east-1.amazonaws.com/123456789012/requests-dlq',
      [ENV.defaultDeadlineMs]: '2000',
    };

    // Then both handlers are built; a bad default deadline is refused with its range
    expect(typeof ingestHandlerFromEnvironment(env)).toBe('function');
    expect(typeof resultHandlerFromEnvironment(env)).toBe('function');
    expect(() => ingestHandlerFromEnvironment({ ...env, [ENV.defaultDeadlineMs]: '90000' })).toThrow(
      'APPARATE_DEFAULT_DEADLINE_MS: must be a whole number of milliseconds from 1 to 60000, got "90000"',
    );
  });

  it('answer the Open Inference Protocol routes from the ingest function, and only the /v2 ones there', async () => {
    // Given the ingest function wired from a complete environment
    const ingest = ingestHandlerFromEnvironment({
      [ENV.model]: 'mnist-resnet',
      [ENV.bundleBucket]: 'bundles',
      [ENV.bundlePrefix]: 'prod/',
      [ENV.resultsTable]: 'apparate-results',
      [ENV.queueUrl]: 'https://sqs.us-east-1.amazonaws.com/123456789012/requests',
      [ENV.deadLetterQueueUrl]: 'https://sqs.us-east-1.amazonaws.com/123456789012/requests-dlq',
    });

    // When API Gateway sends it the v2 liveness route, Then it answers in the protocol's form
    const live = await ingest(
      proxyEvent({ method: 'GET', resource: '/v2/health/live', path: '/v2/health/live' }),
    );
    expect(live.statusCode).toBe(200);
    expect(JSON.parse(live.body)).toEqual({ live: true });

    // And a v2 infer without a body is refused in the protocol's error form, before any AWS call
    const infer = await ingest(
      proxyEvent({
        method: 'POST',
        resource: '/v2/models/{model}/infer',
        path: '/v2/models/mnist-resnet/infer',
        pathParameters: { model: 'mnist-resnet' },
      }),
    );
    expect(infer.statusCode).toBe(400);
    expect(JSON.parse(infer.body)).toEqual({ error: expect.stringMatching(/no body/) as unknown });
  });
});
