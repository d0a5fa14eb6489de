/**
 * The OpenAPI 3.1 document of the API, generated from the zod schemas the handlers use (OpenAPI 3.1
 * schemas are JSON Schema 2020-12, which is what zod emits), with the routes of `routes.ts`. It is
 * served at /openapi.json and committed as `docs/openapi.json`; a test fails when the two differ.
 */
import { z } from 'zod';
import {
  DEFAULT_DEADLINE_MS,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_SYNC_WAIT_MS,
  MAX_DEADLINE_MS,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  MAX_IMAGE_BODY_BYTES,
  MIN_DEADLINE_MS,
} from './limits';
import { IMAGE_MEDIA_TYPES } from '../../core/inference/image-file';
import { MAX_GENERATE_BODY_BYTES } from '../../core/generate/generate-body';
import { IDEMPOTENCY_KEY_HEADER } from './request-id';
import { API_COMPONENT_SCHEMAS, apiSchemas } from './schemas';

/** The API version the document states. */
export const API_VERSION = '1.0.0';

type JsonSchema = Record<string, unknown>;

/** The document, as a plain JSON value. */
export interface OpenApiDocument {
  readonly openapi: string;
  readonly info: Record<string, unknown>;
  readonly paths: Record<string, Record<string, unknown>>;
  readonly components: { readonly schemas: Record<string, JsonSchema> } & Record<string, unknown>;
  readonly [key: string]: unknown;
}

const ref = (id: string): JsonSchema => ({ $ref: `#/components/schemas/${id}` });

const json = (id: string, description: string) => ({
  description,
  content: { 'application/json': { schema: ref(id) } },
});

/** Error responses, by status, with what each means on this API. */
const ERRORS = {
  400: 'Malformed JSON, a bad envelope (unknown field, missing inputs), or a deadline out of range.',
  404: 'Unknown model, unknown request, or no such route.',
  413: `Body larger than ${DEFAULT_MAX_BODY_BYTES} bytes (an image body: ${MAX_IMAGE_BODY_BYTES} bytes).`,
  415: `An image body of a type other than ${IMAGE_MEDIA_TYPES.join(' or ')}.`,
  422: 'inputs does not fit the model (wrong length or type, NaN, values out of range, empty text, an image file that cannot be decoded or has the wrong size).',
  429: "The backlog cannot serve the request within its deadline at the model's measured rate (code overloaded); nothing was queued. Retry after the Retry-After header's seconds.",
  500: 'A failure on our side.',
  502: 'The worker failed the request for a reason of its own.',
  503: 'The queue, the results table, the config table or the model catalog is unavailable; retry.',
  504: 'No answer before the deadline (code deadline_exceeded); the request may still be answered later.',
} as const;

const errors = (...statuses: (keyof typeof ERRORS)[]) =>
  Object.fromEntries(statuses.map((status) => [String(status), json('Error', ERRORS[status])]));

const modelParameter = {
  name: 'model',
  in: 'path',
  required: true,
  description: 'The model name, as GET /v1/models lists it.',
  schema: { type: 'string' },
};

/** Builds the document. Pure and deterministic, so the committed copy can be compared byte for byte. */
export function buildOpenApiDocument(): OpenApiDocument {
  const generated = z.toJSONSchema(apiSchemas, {
    target: 'draft-2020-12',
    uri: (id) => `#/components/schemas/${id}`,
  }) as { schemas: Record<string, JsonSchema> };
  const schemas: Record<string, JsonSchema> = {};
  for (const [id, schema] of Object.entries(generated.schemas)) {
    // Components live inside the document; their own $schema and $id would give them another base URI.
    const rest = { ...schema };
    delete rest['$schema'];
    delete rest['$id'];
    schemas[id] = rest;
  }
  for (const schema of API_COMPONENT_SCHEMAS) {
    const meta = apiSchemas.get(schema);
    const target = meta === undefined ? undefined : schemas[meta.id];
    if (meta !== undefined && target !== undefined)
      schemas[meta.id] = { description: meta.description, ...target };
  }
  // The envelope leaves inputs open (each model checks its own); the document says what they are.
  const inferRequest = schemas['InferRequest'] as { properties: Record<string, JsonSchema> };
  inferRequest.properties['inputs'] = {
    description:
      'The model input: for an image model, its H*W*C grey values (0 to 255) in row-major order; for a text model, the raw text. GET /v1/models says which.',
    anyOf: [
      { type: 'array', items: { type: 'number', minimum: 0, maximum: 255 } },
      { type: 'string', minLength: 1 },
    ],
  };
  inferRequest.properties['deadlineMs'] = {
    ...inferRequest.properties['deadlineMs'],
    description: `Time budget from arrival, ms, ${MIN_DEADLINE_MS} to ${MAX_DEADLINE_MS} (sync: at most ${DEFAULT_MAX_SYNC_WAIT_MS}). Default ${DEFAULT_DEADLINE_MS} unless the deployment sets another.`,
  };

  return {
    openapi: '3.1.0',
    info: {
      title: 'Apparate inference API',
      version: API_VERSION,
      description:
        'Classification with early exits: a confident ramp answers before the input reaches the end of the model, and the full model still answers every input. See docs/api.md.',
    },
    servers: [
      {
        url: '/',
        description: 'The API base URL (API Gateway stage URL, or http://127.0.0.1:3000 locally).',
      },
    ],
    security: [{ apiKey: [] }],
    paths: {
      '/v1/models/{model}/infer': {
        post: {
          operationId: 'infer',
          summary: 'Classify one input',
          description:
            'Sync (default): waits up to the deadline and answers 200 with the early answer (or the final one when no ramp was confident). Async: answers 202 at once; GET the result.',
          parameters: [
            modelParameter,
            {
              name: IDEMPOTENCY_KEY_HEADER,
              in: 'header',
              required: false,
              description:
                'A client key for safe retries: the same key (for the same model and API key) names the same request, so a retry gets the recorded answer instead of queueing another.',
              schema: {
                type: 'string',
                minLength: 1,
                maxLength: MAX_IDEMPOTENCY_KEY_LENGTH,
                pattern: '^[!-~]+$',
              },
            },
            {
              name: 'deadlineMs',
              in: 'query',
              required: false,
              description:
                'With an image body only (the JSON body carries its own): the time budget from arrival, ms.',
              schema: { type: 'integer', minimum: MIN_DEADLINE_MS, maximum: MAX_DEADLINE_MS },
            },
            {
              name: 'mode',
              in: 'query',
              required: false,
              description:
                'With an image body only (the JSON body carries its own): sync (default) or async.',
              schema: ref('InferenceMode'),
            },
          ],
          requestBody: {
            required: true,
            content: {
              'application/json': { schema: ref('InferRequest') },
              ...Object.fromEntries(
                IMAGE_MEDIA_TYPES.map((type) => [
                  type,
                  {
                    schema: {
                      type: 'string',
                      contentMediaType: type,
                      maxLength: MAX_IMAGE_BODY_BYTES,
                      description: `An image model's input as the file itself (at most ${MAX_IMAGE_BODY_BYTES} bytes), the same as {"inputs": {"image": "<base64>"}}; deadlineMs and mode go in the query string.`,
                    },
                  },
                ]),
              ),
            },
          },
          responses: {
            '200': {
              description:
                'The answer (sync mode). With `Accept: text/event-stream` (or `application/x-ndjson`) the response is a stream instead: event `early` (an InferAnswer) the moment a ramp releases the answer, then event `final` (a StreamFinal, with agreesWithEarly) when the batch ends, or event `error` (an Error); an input that exits nowhere gets only `final`. Refusals before queueing are plain JSON errors.',
              content: {
                'application/json': { schema: ref('InferAnswer') },
                'text/event-stream': {
                  schema: {
                    type: 'string',
                    description:
                      'Server-sent events `early`, `final` or `error`, each with one JSON data line: InferAnswer, StreamFinal or Error.',
                  },
                },
                'application/x-ndjson': {
                  schema: {
                    type: 'string',
                    description:
                      'One JSON object per line: an InferAnswer, StreamFinal or Error with an added `event` field (early, final or error).',
                  },
                },
              },
            },
            '202': {
              ...json('Accepted', 'Queued (async mode); GET the Location for the result.'),
              headers: { Location: { description: 'The path of the result.', schema: { type: 'string' } } },
            },
            ...errors(400, 404, 413, 415, 422, 429, 500, 502, 503, 504),
          },
        },
      },
      '/v1/requests/{id}': {
        get: {
          operationId: 'getRequest',
          summary: "A request's state and answers",
          parameters: [{ name: 'id', in: 'path', required: true, schema: ref('RequestId') }],
          responses: {
            '200': json('RequestStatus', 'The state and every answer known so far.'),
            ...errors(400, 404, 500, 503),
          },
        },
      },
      '/v1/models': {
        get: {
          operationId: 'listModels',
          summary: 'The served models',
          responses: { '200': json('ModelList', 'Every model this deployment serves.'), ...errors(500, 503) },
        },
      },
      '/v1/models/{model}/config': {
        get: {
          operationId: 'getModelConfig',
          summary: "A model's current config",
          parameters: [modelParameter],
          responses: {
            '200': json('ModelConfig', 'The config serving now.'),
            ...errors(404, 500, 503),
          },
        },
      },
      '/v1/models/{model}/generate': {
        post: {
          operationId: 'generate',
          summary: 'Generate text with per-token exits, streamed',
          description: `Served by the worker that decodes (locally, by npm start's server), since a token stream needs a direct connection to it. Refusals come before the stream, as JSON errors: 400 bad body, 404 unknown model, 413 body over ${MAX_GENERATE_BODY_BYTES} bytes, 422 prompt plus maxTokens beyond the model's context, 429 (with Retry-After) when every row is busy.`,
          parameters: [modelParameter],
          requestBody: {
            required: true,
            content: { 'application/json': { schema: ref('GenerateRequest') } },
          },
          responses: {
            '200': {
              description:
                'Server-sent events: one `token` event per token (a GenerateToken), then `done` (a GenerateDone) or `error` (an ErrorDetail: the rows failed on the worker). A client that disconnects frees its row before the next step.',
              content: {
                'text/event-stream': {
                  schema: {
                    type: 'string',
                    description:
                      'Events `token`, `done` or `error`, each with one JSON data line: GenerateToken, GenerateDone or ErrorDetail.',
                  },
                },
              },
            },
            '400': json('Error', 'Malformed JSON, an unknown field, or a field out of range.'),
            '404': json(
              'Error',
              'No generative model of that name is served here (the message lists those that are).',
            ),
            '413': json('Error', `Body larger than ${MAX_GENERATE_BODY_BYTES} bytes.`),
            '422': json('Error', "The prompt's bytes plus maxTokens exceed the model's context."),
            '429': json(
              'Error',
              "Every generation row is busy; retry after the Retry-After header's seconds.",
            ),
          },
        },
      },
      ...openInferencePaths(modelParameter),
      '/openapi.json': {
        get: {
          operationId: 'getOpenApiDocument',
          summary: 'This document',
          security: [],
          responses: { '200': { description: 'The OpenAPI document.', content: { 'application/json': {} } } },
        },
      },
    },
    components: {
      schemas,
      securitySchemes: {
        apiKey: {
          type: 'apiKey',
          in: 'header',
          name: 'x-api-key',
          description: 'The API Gateway API key of the deployment (not checked by the local server).',
        },
      },
    },
  };
}

/**
 * The Open Inference Protocol (v2 REST) routes. Their bodies are the protocol's own (see its
 * specification, as KServe publishes it), so they are described in words, not with this API's schemas.
 */
function openInferencePaths(modelParameter: unknown): Record<string, Record<string, unknown>> {
  const json = (description: string) => ({ description, content: { 'application/json': {} } });
  const v2Error = json('The protocol\'s error body: { "error": "what was wrong and what is allowed" }.');
  return {
    '/v2/health/live': {
      get: {
        operationId: 'v2Live',
        summary: 'Open Inference Protocol: server liveness',
        responses: { '200': json('{ "live": true }') },
      },
    },
    '/v2/health/ready': {
      get: {
        operationId: 'v2Ready',
        summary: 'Open Inference Protocol: server readiness',
        responses: {
          '200': json('{ "ready": true }'),
          '400': json('{ "ready": false }: no model is served yet.'),
        },
      },
    },
    '/v2/models/{model}': {
      get: {
        operationId: 'v2ModelMetadata',
        summary: 'Open Inference Protocol: model metadata',
        parameters: [modelParameter],
        responses: {
          '200': json(
            'name, versions, platform, and inputs and outputs with name, datatype and shape (-1: the batch).',
          ),
          '404': v2Error,
        },
      },
    },
    '/v2/models/{model}/ready': {
      get: {
        operationId: 'v2ModelReady',
        summary: 'Open Inference Protocol: model readiness',
        parameters: [modelParameter],
        responses: { '200': json('{ "name", "ready": true }'), '404': v2Error },
      },
    },
    '/v2/models/{model}/infer': {
      post: {
        operationId: 'v2Infer',
        summary: 'Open Inference Protocol: infer',
        description:
          'One input tensor whose first axis is the batch: FP32 or INT64 pixel values 0-255 shaped [N, C, H, W] for an image model, BYTES strings shaped [N] for a text model. Outputs: label (BYTES), confidence (FP32) and exit (BYTES: a ramp id or "final"), each with the exits joined by commas as its "exit" parameter.',
        parameters: [modelParameter],
        requestBody: { required: true, content: { 'application/json': {} } },
        responses: {
          '200': json('model_name, model_version, id and the output tensors.'),
          '400': v2Error,
          '404': v2Error,
          '413': v2Error,
          '503': v2Error,
          '504': v2Error,
        },
      },
    },
  };
}
