/**
 * REST API (v1) proxy events for handler tests, filled the way API Gateway fills them for the
 * fields the handlers read; the rest comes from the local server's converter so tests and the
 * local stack build events one way.
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';

export interface EventParts {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly resource: string;
  readonly path: string;
  readonly pathParameters?: Record<string, string>;
  readonly body?: string | null;
  readonly headers?: Record<string, string>;
  readonly isBase64Encoded?: boolean;
  readonly apiKeyId?: string;
}

export function proxyEvent(parts: EventParts): APIGatewayProxyEvent {
  return {
    resource: parts.resource,
    path: parts.path,
    httpMethod: parts.method,
    headers: parts.headers ?? {},
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: parts.pathParameters ?? null,
    stageVariables: null,
    body: parts.body ?? null,
    isBase64Encoded: parts.isBase64Encoded ?? false,
    requestContext: {
      requestId: 'test',
      identity: { apiKeyId: parts.apiKeyId ?? null },
    } as unknown as APIGatewayProxyEvent['requestContext'],
  };
}

/** POST /v1/models/{model}/infer with a JSON body (a string is sent as it is). */
export function inferEvent(
  model: string,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyEvent {
  return proxyEvent({
    method: 'POST',
    resource: '/v1/models/{model}/infer',
    path: `/v1/models/${model}/infer`,
    pathParameters: { model },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...headers },
  });
}

/** GET /v1/requests/{id}. */
export function requestEvent(id: string): APIGatewayProxyEvent {
  return proxyEvent({
    method: 'GET',
    resource: '/v1/requests/{id}',
    path: `/v1/requests/${id}`,
    pathParameters: { id },
  });
}
