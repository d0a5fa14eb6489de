/**
 * Turning a node:http request into the REST API (v1) proxy event API Gateway would send, so the
 * local server runs the deployed handlers unchanged. Only what the handlers and a client's view of
 * the API need is filled faithfully (method, resource, path, headers, query, path parameters,
 * body); the rest of the request context gets fixed local values.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { APIGatewayProxyEvent } from 'aws-lambda';

export interface ProxyEventInput {
  readonly request: IncomingMessage;
  readonly url: URL;
  readonly resource: string;
  readonly pathParameters: Record<string, string>;
  readonly body: string | null;
  /** Whether `body` is base64, as API Gateway sends binary media types. @default false */
  readonly isBase64Encoded?: boolean;
}

/** The proxy event of one local request; header names lower-cased, as HTTP/2 and Node give them. */
export function toProxyEvent(input: ProxyEventInput): APIGatewayProxyEvent {
  const { request, url, resource, pathParameters, body } = input;
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined) continue;
    const values = Array.isArray(value) ? value : [value];
    headers[name.toLowerCase()] = values.join(', ');
    multiValueHeaders[name.toLowerCase()] = values;
  }
  const query: Record<string, string> = {};
  const multiQuery: Record<string, string[]> = {};
  for (const [name, value] of url.searchParams) {
    query[name] = value;
    (multiQuery[name] ??= []).push(value);
  }
  const hasQuery = Object.keys(query).length > 0;
  const hasPathParameters = Object.keys(pathParameters).length > 0;
  const method = (request.method ?? 'GET').toUpperCase();
  const nowMs = Date.now();
  return {
    resource,
    path: url.pathname,
    httpMethod: method,
    headers,
    multiValueHeaders,
    queryStringParameters: hasQuery ? query : null,
    multiValueQueryStringParameters: hasQuery ? multiQuery : null,
    pathParameters: hasPathParameters ? pathParameters : null,
    stageVariables: null,
    body,
    isBase64Encoded: input.isBase64Encoded ?? false,
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      authorizer: null,
      httpMethod: method,
      path: url.pathname,
      protocol: `HTTP/${request.httpVersion}`,
      requestId: randomUUID(),
      requestTimeEpoch: nowMs,
      resourceId: 'local',
      resourcePath: resource,
      stage: 'local',
      identity: {
        accessKey: null,
        accountId: null,
        apiKey: null,
        apiKeyId: null,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: request.socket.remoteAddress ?? '127.0.0.1',
        user: null,
        userAgent: headers['user-agent'] ?? null,
        userArn: null,
      },
    },
  };
}
