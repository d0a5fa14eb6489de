import { createResultHandler } from '../../functions/result';
import type { BundleCatalog } from '../../functions/catalog/bundle-catalog';
import { buildOpenApiDocument } from '../../functions/api/openapi';
import { conformingBody } from './support/api-contract';
import { useHandlerFixture } from './support/handler-fixture';
import { proxyEvent, requestEvent } from './support/proxy-events';

const MODEL = 'mnist-resnet';
const ID = '3f6c2a9e-8d41-4b7a-9c0e-5d2f1a7b6c30';

const setup = useHandlerFixture();
let errors: string[];

beforeEach(() => {
  errors = [];
});

const handler = (catalog: BundleCatalog = setup.fixture.catalog) =>
  createResultHandler({
    catalog,
    results: setup.stores.results,
    configs: setup.stores.configs,
    onError: (message) => errors.push(message),
  });

const get = (resource: string, path: string, pathParameters?: Record<string, string>) =>
  proxyEvent({ method: 'GET', resource, path, ...(pathParameters ? { pathParameters } : {}) });

describe('GET /v1/requests/{id}', () => {
  it('shows a request from pending through its early answer to its final one', async () => {
    // Given a request accepted with a deadline
    const result = handler();
    const deadlineAtMs = Date.UTC(2030, 0, 1);
    await setup.stores.results.putAccepted(ID, { model: MODEL, deadlineAtMs });

    // When it is read while pending, after the early answer, and after the final answer
    const pending = conformingBody('GET', '/v1/requests/{id}', await result(requestEvent(ID)));
    await setup.stores.results.putEarly(ID, {
      model: MODEL,
      label: '4',
      confidence: 0.9,
      exit: 'c0',
      latencyMs: 2,
      configVersion: 3,
    });
    const early = conformingBody('GET', '/v1/requests/{id}', await result(requestEvent(ID)));
    await setup.stores.results.putFinal(ID, {
      label: '9',
      confidence: 0.95,
      latencyMs: 8,
      configVersion: 3,
      agreesWithEarly: false,
    });
    const final = conformingBody('GET', '/v1/requests/{id}', await result(requestEvent(ID)));

    // Then each read shows the state and every answer known then
    const deadlineAt = '2030-01-01T00:00:00.000Z';
    expect(pending).toEqual({ requestId: ID, model: MODEL, status: 'pending', deadlineAt });
    expect(early).toEqual({
      requestId: ID,
      model: MODEL,
      status: 'early',
      deadlineAt,
      early: { label: '4', confidence: 0.9, exit: 'c0', configVersion: 3, latencyMs: 2 },
    });
    expect(final).toMatchObject({
      status: 'final',
      early: { label: '4' },
      final: { label: '9', confidence: 0.95, latencyMs: 8, configVersion: 3, agreesWithEarly: false },
    });
  });

  it('shows a failed request’s error', async () => {
    await setup.stores.results.putAccepted(ID, { model: MODEL, deadlineAtMs: Date.now() });
    await setup.stores.results.putError(ID, { code: 'deadline_exceeded', message: 'cannot be met' });
    const body = conformingBody('GET', '/v1/requests/{id}', await handler()(requestEvent(ID)));
    expect(body).toMatchObject({
      status: 'error',
      error: { code: 'deadline_exceeded', message: 'cannot be met' },
    });
  });

  it('answers 404 for an unknown request and 400 for an id that is not a request id', async () => {
    const unknown = await handler()(requestEvent(ID));
    const malformed = await handler()(requestEvent('accepted#1'));
    expect(unknown.statusCode).toBe(404);
    expect(conformingBody('GET', '/v1/requests/{id}', unknown)).toEqual({
      error: {
        code: 'unknown_request',
        message: `no request ${ID} is known: it was never accepted, or its result expired (results are kept for a day)`,
      },
    });
    expect(malformed.statusCode).toBe(400);
    expect(conformingBody('GET', '/v1/requests/{id}', malformed)).toMatchObject({
      error: { code: 'invalid_request_id' },
    });
  });
});

describe('GET /v1/models and /v1/models/{model}/config', () => {
  it('serves the bundle’s initial config until the controller publishes one, then the published one', async () => {
    // Given a model with nothing published yet
    const result = handler();
    const manifest = setup.fixture.mnist.bundle.manifest;
    const configEvent = get('/v1/models/{model}/config', `/v1/models/${MODEL}/config`, { model: MODEL });

    // When the models and the config are read, then a config is published and both read again
    const modelsBefore = conformingBody('GET', '/v1/models', await result(get('/v1/models', '/v1/models')));
    const initial = conformingBody('GET', '/v1/models/{model}/config', await result(configEvent));
    const published = {
      version: 5,
      ramps: manifest.initialConfig.ramps.slice(0, 2).map((ramp) => ({ id: ramp.id, threshold: 0.25 })),
    };
    await setup.stores.configs.publish(MODEL, published);
    const modelsAfter = conformingBody('GET', '/v1/models', await result(get('/v1/models', '/v1/models')));
    const latest = conformingBody('GET', '/v1/models/{model}/config', await result(configEvent));

    // Then the model is listed with its input and current version, and the config follows the table
    expect(modelsBefore).toEqual({
      models: [
        {
          name: MODEL,
          task: 'image-classification',
          classes: manifest.model.spec.classes,
          input: {
            kind: 'image',
            height: 28,
            width: 28,
            channels: 1,
            length: 784,
            minValue: 0,
            maxValue: 255,
          },
          configVersion: 0,
          links: { infer: '/v1/models/mnist-resnet/infer', config: '/v1/models/mnist-resnet/config' },
        },
      ],
    });
    expect(initial).toMatchObject({ model: MODEL, version: 0, source: 'initial' });
    expect((initial as { ramps: unknown[] }).ramps).toHaveLength(manifest.initialConfig.ramps.length);
    expect(modelsAfter).toMatchObject({ models: [{ configVersion: 5 }] });
    const firstRamp = manifest.candidates.find((c) => c.id === published.ramps[0]?.id);
    expect(latest).toMatchObject({
      version: 5,
      source: 'published',
      publishedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown,
      ramps: [
        { id: published.ramps[0]?.id, threshold: 0.25, latencyFraction: firstRamp?.latencyFraction },
        { threshold: 0.25 },
      ],
    });
  });

  it('answers 404 for an unknown model and 503 when the catalog cannot be read', async () => {
    const unknown = await handler()(get('/v1/models/{model}/config', '/v1/models/x/config', { model: 'x' }));
    expect(unknown.statusCode).toBe(404);
    expect(conformingBody('GET', '/v1/models/{model}/config', unknown)).toMatchObject({
      error: { code: 'unknown_model' },
    });

    // Given a catalog whose store is down
    const broken: BundleCatalog = {
      models: () => Promise.resolve([MODEL]),
      manifest: () => Promise.reject(new Error('S3 is down')),
    };
    const response = await handler(broken)(get('/v1/models', '/v1/models'));
    expect(response.statusCode).toBe(503);
    expect(conformingBody('GET', '/v1/models', response)).toMatchObject({
      error: { code: 'model_catalog_unavailable' },
    });
    expect(errors).toEqual(['dependency unavailable']);
  });
});

describe('GET /openapi.json', () => {
  it('serves the document', async () => {
    const response = await handler()(get('/openapi.json', '/openapi.json'));
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body)).toEqual(buildOpenApiDocument());
  });
});
