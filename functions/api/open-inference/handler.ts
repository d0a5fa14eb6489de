/**
 * The Open Inference Protocol (v2 REST) beside `/v1`, for the same models: health, model metadata
 * and readiness, and infer. Infer is a translation, not a second serving path: each row of the
 * request's input tensor goes through the `/v1` ingest handler as a synchronous request (so the
 * same validation, queue, deadline and early answers apply), the rows concurrently so that they
 * share worker batches, and the answers come back as typed output tensors. Errors take the
 * protocol's `{ "error": "..." }` form with the status `/v1` chose.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { BundleCatalog } from '../../catalog/bundle-catalog';
import {
  defaultApiErrorListener,
  jsonResult,
  messageOf,
  type ApiErrorListener,
  type ApiHandler,
} from '../http';
import { parseJsonBody } from '../request-body';
import { inferAnswerSchema } from '../schemas';
import { v2InferRequestSchema, type V2InferResponse, type V2ModelMetadata } from './schemas';
import { V2_OUTPUTS, inputMetadata, outputTensors, rowsOf, type RowAnswer } from './tensors';

/** Largest v2 request body, bytes: room for 64 rows of a small image as JSON numbers. */
export const DEFAULT_V2_MAX_BODY_BYTES = 4 * 1024 * 1024;

export interface OpenInferenceDependencies {
  /** The `/v1` ingest handler every infer row goes through. */
  readonly ingest: ApiHandler;
  readonly catalog: BundleCatalog;
  /** @default DEFAULT_V2_MAX_BODY_BYTES */
  readonly maxBodyBytes?: number;
  /** Ids of requests that name none. @default crypto.randomUUID */
  readonly newRequestId?: () => string;
  readonly onError?: ApiErrorListener;
}

/** The protocol's error body. */
function v2Error(statusCode: number, message: string): APIGatewayProxyResult {
  return jsonResult(statusCode, { error: message });
}

/** The message of a `/v1` error response, or its raw body when it is not the API's error shape. */
function v1ErrorMessage(result: APIGatewayProxyResult): string {
  try {
    const body = JSON.parse(result.body) as { error?: { message?: unknown } };
    if (typeof body.error?.message === 'string') return body.error.message;
  } catch {
    // fall through to the raw body
  }
  return result.body;
}

/** Builds the v2 handler; the local server and the ingest Lambda route `/v2/...` to it. */
export function createOpenInferenceHandler(deps: OpenInferenceDependencies): ApiHandler {
  const maxBodyBytes = deps.maxBodyBytes ?? DEFAULT_V2_MAX_BODY_BYTES;
  const onError = deps.onError ?? defaultApiErrorListener;
  const newRequestId = deps.newRequestId ?? (() => crypto.randomUUID());

  const unknownModel = async (model: string): Promise<APIGatewayProxyResult> => {
    const served = await deps.catalog.models();
    return v2Error(
      404,
      `model ${JSON.stringify(model)} is not served here; served models: ${served.join(', ') || 'none'}`,
    );
  };

  const metadata = async (model: string): Promise<APIGatewayProxyResult> => {
    const manifest = await deps.catalog.manifest(model);
    if (manifest === undefined) return unknownModel(model);
    const body: V2ModelMetadata = {
      name: model,
      versions: [manifest.model.sha256.slice(0, 12)],
      platform: 'onnxruntime_onnx',
      inputs: [inputMetadata(manifest)],
      outputs: V2_OUTPUTS,
    };
    return jsonResult(200, body);
  };

  const infer = async (event: APIGatewayProxyEvent, model: string): Promise<APIGatewayProxyResult> => {
    const body = parseJsonBody(event, maxBodyBytes);
    if (!body.ok) return v2Error(body.problem.status, body.problem.message);
    const parsed = v2InferRequestSchema.safeParse(body.value);
    if (!parsed.success) {
      const issues = parsed.error.issues.map(
        (issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'body'}: ${issue.message}`,
      );
      return v2Error(400, `the body is not an Open Inference Protocol infer request: ${issues.join('; ')}`);
    }
    const request = parsed.data;
    const manifest = await deps.catalog.manifest(model);
    if (manifest === undefined) return unknownModel(model);
    const requested = request.outputs?.map((output) => output.name);
    const unknownOutput = requested?.find((name) => !V2_OUTPUTS.some((output) => output.name === name));
    if (unknownOutput !== undefined) {
      return v2Error(
        400,
        `model ${model} has no output ${unknownOutput}; its outputs are ${V2_OUTPUTS.map((o) => o.name).join(', ')}`,
      );
    }
    const rows = rowsOf(manifest, request.inputs);
    if (!rows.ok) return v2Error(400, rows.message);
    // The protocol leaves deadlines to parameters; ours is /v1's deadlineMs, checked there too.
    const deadlineMs = request.parameters?.['deadlineMs'];
    if (
      deadlineMs !== undefined &&
      !(typeof deadlineMs === 'number' && Number.isInteger(deadlineMs) && deadlineMs > 0)
    ) {
      return v2Error(
        400,
        `parameters.deadlineMs must be a whole number of milliseconds above 0, got ${JSON.stringify(deadlineMs)}`,
      );
    }

    const results = await Promise.all(
      rows.rows.map((input) =>
        deps.ingest({
          ...event,
          resource: '/v1/models/{model}/infer',
          path: `/v1/models/${encodeURIComponent(model)}/infer`,
          pathParameters: { model },
          headers: { 'content-type': 'application/json' },
          multiValueHeaders: { 'content-type': ['application/json'] },
          isBase64Encoded: false,
          body: JSON.stringify({
            inputs: input,
            mode: 'sync',
            ...(deadlineMs === undefined ? {} : { deadlineMs }),
          }),
        }),
      ),
    );
    const answers: RowAnswer[] = [];
    for (const [row, result] of results.entries()) {
      if (result.statusCode !== 200) {
        const prefix = results.length > 1 ? `row ${row}: ` : '';
        return v2Error(
          result.statusCode === 422 ? 400 : result.statusCode,
          `${prefix}${v1ErrorMessage(result)}`,
        );
      }
      const answer = inferAnswerSchema.safeParse(JSON.parse(result.body));
      if (!answer.success) {
        onError('v1 answer unreadable', { model, row });
        return v2Error(500, 'the answer could not be read on our side; retry, or report it if it persists');
      }
      answers.push(answer.data);
    }
    const response: V2InferResponse = {
      model_name: model,
      model_version: manifest.model.sha256.slice(0, 12),
      id: request.id ?? newRequestId(),
      outputs: outputTensors(answers, requested),
    };
    return jsonResult(200, response);
  };

  const route = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
    const model = event.pathParameters?.['model'] ?? '';
    switch (`${event.httpMethod} ${event.resource}`) {
      case 'GET /v2/health/live':
        return jsonResult(200, { live: true });
      case 'GET /v2/health/ready':
        // The protocol reads the status: 200 is ready, a 4xx is not.
        return (await deps.catalog.models()).length > 0
          ? jsonResult(200, { ready: true })
          : jsonResult(400, { ready: false });
      case 'GET /v2/models/{model}':
        return metadata(model);
      case 'GET /v2/models/{model}/ready': {
        const manifest = await deps.catalog.manifest(model);
        return manifest === undefined ? unknownModel(model) : jsonResult(200, { name: model, ready: true });
      }
      case 'POST /v2/models/{model}/infer':
        return infer(event, model);
      default:
        return v2Error(404, `no route ${event.httpMethod} ${event.path}`);
    }
  };

  return async (event) => {
    try {
      return await route(event);
    } catch (error) {
      onError('open inference request failed', { error: messageOf(error) });
      return v2Error(500, 'the request failed on our side; retry, or report it if it persists');
    }
  };
}
