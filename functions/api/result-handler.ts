/**
 * The read side of the API, one handler for every GET route: a request's result, the served
 * models, a model's current config, and the OpenAPI document. Reads only; nothing here can change
 * what is served.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { ConfigStore, ResultStore } from '../../adapters/dynamo';
import type { BundleManifest } from '../../core/bundle/manifest';
import type { BundleCatalog } from '../catalog/bundle-catalog';
import {
  defaultApiErrorListener,
  errorResult,
  jsonResult,
  messageOf,
  problem,
  type ApiErrorListener,
  type ApiHandler,
} from './http';
import { buildOpenApiDocument } from './openapi';
import { requestIdSchema, type ModelList } from './schemas';
import { modelConfigView, modelSummaryView, requestStatusView } from './views';

export interface ResultDependencies {
  readonly catalog: BundleCatalog;
  readonly results: Pick<ResultStore, 'get'>;
  /** Where the controller publishes configs; the bundle's initial config stands in until it has. */
  readonly configs: Pick<ConfigStore, 'latest'>;
  /** Failures that are ours (the client gets 5xx). @default one JSON line on stderr */
  readonly onError?: ApiErrorListener;
}

class Unavailable extends Error {
  constructor(
    readonly code: string,
    message: string,
    options: { cause: unknown },
  ) {
    super(message, options);
  }
}

/** Builds the result handler; the Lambda entry and the local server both call what this returns. */
export function createResultHandler(deps: ResultDependencies): ApiHandler {
  const onError = deps.onError ?? defaultApiErrorListener;
  let openApiBody: string | undefined;

  const manifestOf = async (model: string): Promise<BundleManifest | undefined> => {
    try {
      return await deps.catalog.manifest(model);
    } catch (cause) {
      throw new Unavailable(
        'model_catalog_unavailable',
        `the description of model ${model} cannot be read now; retry`,
        {
          cause,
        },
      );
    }
  };

  const latestConfig = async (model: string) => {
    try {
      return await deps.configs.latest(model);
    } catch (cause) {
      throw new Unavailable('configs_unavailable', `the config of model ${model} cannot be read now; retry`, {
        cause,
      });
    }
  };

  const unknownModel = async (model: string): Promise<APIGatewayProxyResult> => {
    const served = await deps.catalog.models();
    return errorResult(
      problem(
        404,
        'unknown_model',
        `model ${JSON.stringify(model)} is not served here; served models: ${served.join(', ') || 'none'}`,
      ),
    );
  };

  const getRequest = async (id: string): Promise<APIGatewayProxyResult> => {
    const parsed = requestIdSchema.safeParse(id);
    if (!parsed.success) {
      return errorResult(
        problem(
          400,
          'invalid_request_id',
          `request ids are lower-case UUIDs such as 3f6c2a9e-8d41-4b7a-9c0e-5d2f1a7b6c30, as POST /v1/models/{model}/infer returns them; got ${JSON.stringify(id.slice(0, 80))}`,
        ),
      );
    }
    let record;
    try {
      record = await deps.results.get(parsed.data);
    } catch (cause) {
      throw new Unavailable('results_unavailable', 'the results table cannot be read now; retry', { cause });
    }
    if (record === undefined) {
      return errorResult(
        problem(
          404,
          'unknown_request',
          `no request ${parsed.data} is known: it was never accepted, or its result expired (results are kept for a day)`,
        ),
      );
    }
    return jsonResult(200, requestStatusView(record));
  };

  const listModels = async (): Promise<APIGatewayProxyResult> => {
    const body: ModelList = { models: [] };
    for (const model of await deps.catalog.models()) {
      const manifest = await manifestOf(model);
      if (manifest === undefined) continue;
      const published = await latestConfig(model);
      body.models.push(
        modelSummaryView(model, manifest, (published?.config ?? manifest.initialConfig).version),
      );
    }
    return jsonResult(200, body);
  };

  const modelConfig = async (model: string): Promise<APIGatewayProxyResult> => {
    const manifest = await manifestOf(model);
    if (manifest === undefined) return unknownModel(model);
    const published = await latestConfig(model);
    return jsonResult(
      200,
      modelConfigView(model, manifest, published?.config ?? manifest.initialConfig, published),
    );
  };

  const route = (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
    const parameter = (name: string): string => event.pathParameters?.[name] ?? '';
    switch (`${event.httpMethod} ${event.resource}`) {
      case 'GET /v1/requests/{id}':
        return getRequest(parameter('id'));
      case 'GET /v1/models':
        return listModels();
      case 'GET /v1/models/{model}/config':
        return modelConfig(parameter('model'));
      case 'GET /openapi.json':
        openApiBody ??= JSON.stringify(buildOpenApiDocument());
        return Promise.resolve({
          statusCode: 200,
          headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'max-age=300' },
          body: openApiBody,
        });
      default:
        return Promise.resolve(
          errorResult(
            problem(
              404,
              'not_found',
              `no route ${event.httpMethod} ${event.path}; see /openapi.json for the API`,
            ),
          ),
        );
    }
  };

  return async (event) => {
    try {
      return await route(event);
    } catch (error) {
      if (error instanceof Unavailable) {
        onError('dependency unavailable', { code: error.code, error: messageOf(error.cause) });
        return errorResult(problem(503, error.code, error.message));
      }
      onError('result handler failed', { error: messageOf(error) });
      return errorResult(
        problem(500, 'internal_error', 'the request failed on our side; retry, or report it if it persists'),
      );
    }
  };
}
