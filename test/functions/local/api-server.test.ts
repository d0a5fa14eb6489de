import type { APIGatewayProxyEvent } from 'aws-lambda';
import { jsonResult, type ApiHandler } from '../../../functions/api/http';
import { startApiServer, type ApiServer } from '../../../functions/local/api-server';

describe('local API server', () => {
  let server: ApiServer;
  const seen: APIGatewayProxyEvent[] = [];
  const echo =
    (name: string): ApiHandler =>
    (event) => {
      seen.push(event);
      return Promise.resolve(jsonResult(201, { handler: name, body: event.body }, { 'x-handler': name }));
    };

  beforeAll(async () => {
    server = await startApiServer({
      port: 0,
      ingest: echo('ingest'),
      result: echo('result'),
      maxBodyBytes: 1024,
    });
  });

  afterAll(async () => {
    await server.close();
  });

  beforeEach(() => {
    seen.length = 0;
  });

  it('hands each route to its handler as the proxy event API Gateway would send', async () => {
    // When a POST to the infer route and a GET to a request arrive
    const posted = await fetch(`${server.url}/v1/models/mnist%2Dresnet/infer?trace=1`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': 'k-1' },
      body: '{"inputs":"hi"}',
    });
    const got = await fetch(`${server.url}/v1/requests/abc`);

    // Then each reached its handler, and the handler's result came back as it was
    expect(posted.status).toBe(201);
    expect(posted.headers.get('x-handler')).toBe('ingest');
    expect(await posted.json()).toEqual({ handler: 'ingest', body: '{"inputs":"hi"}' });
    expect(got.headers.get('x-handler')).toBe('result');
    expect(await got.json()).toEqual({ handler: 'result', body: null });
    // And the events carry the route template, decoded parameters, lower-cased headers and the query
    expect(seen[0]).toMatchObject({
      httpMethod: 'POST',
      resource: '/v1/models/{model}/infer',
      path: '/v1/models/mnist%2Dresnet/infer',
      pathParameters: { model: 'mnist-resnet' },
      queryStringParameters: { trace: '1' },
      headers: { 'content-type': 'application/json', 'idempotency-key': 'k-1' },
      isBase64Encoded: false,
    });
    expect(seen[1]).toMatchObject({
      httpMethod: 'GET',
      resource: '/v1/requests/{id}',
      pathParameters: { id: 'abc' },
    });
  });

  it('answers an unknown route with 404 and a wrong method with 405, in the API’s error shape', async () => {
    const missing = await fetch(`${server.url}/v2/anything`);
    const wrong = await fetch(`${server.url}/v1/models`, { method: 'POST', body: '{}' });

    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({
      error: { code: 'not_found', message: 'no route /v2/anything; see /openapi.json for the API' },
    });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET');
    expect(await wrong.json()).toEqual({
      error: { code: 'method_not_allowed', message: 'POST is not allowed on /v1/models; allowed: GET' },
    });
    expect(seen).toEqual([]);
  });

  it('refuses a body over its transport limit without calling a handler', async () => {
    const response = await fetch(`${server.url}/v1/models/m/infer`, {
      method: 'POST',
      body: 'x'.repeat(2048),
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({
      error: {
        code: 'body_too_large',
        message: 'the body is larger than 1024 bytes, the most this server reads',
      },
    });
    expect(seen).toEqual([]);
  });

  it('answers 500 in the API’s error shape when a handler throws', async () => {
    const failing = await startApiServer({
      port: 0,
      ingest: () => Promise.reject(new Error('boom')),
      result: echo('result'),
    });
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const response = await fetch(`${failing.url}/v1/models/m/infer`, { method: 'POST', body: '{}' });
      expect(response.status).toBe(500);
      expect(await response.json()).toEqual({
        error: { code: 'internal_error', message: 'the request failed on our side' },
      });
      expect(String(stderr.mock.calls[0]?.[0])).toContain('"message":"local api request failed"');
    } finally {
      stderr.mockRestore();
      await failing.close();
    }
  });
});
