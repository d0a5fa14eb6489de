/**
 * Building proxy results. Every response of the API is JSON with the same headers, and every error
 * has the same shape, so the handlers only decide status and body.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { ErrorBody } from './schemas';

/** A REST API (v1) proxy handler, as API Gateway invokes it and the local server calls it. */
export type ApiHandler = (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;

/**
 * A handler that may stream its response: it writes to `out` and resolves undefined, or answers
 * with one whole result (a refusal before anything was written).
 */
export type StreamingApiHandler = (
  event: APIGatewayProxyEvent,
  out: ResponseStream,
) => Promise<APIGatewayProxyResult | undefined>;

/** Where a streaming handler writes its response. */
export interface ResponseStream {
  /** Sends the status and headers; called once, before the first write. */
  open(statusCode: number, headers: Record<string, string>): void;
  write(text: string): void;
  end(): void;
}

const JSON_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  // Answers are per request; no cache between client and API may keep them.
  'cache-control': 'no-store',
} as const;

/** A JSON response. */
export function jsonResult(
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyResult {
  return { statusCode, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

/** Why a request failed, as the handlers pass it around before it becomes a response. */
export interface ApiProblem {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  /** Set once the request was accepted, so the client can still ask for its result. */
  readonly requestId?: string;
  readonly headers?: Record<string, string>;
}

/** Shorthand for an ApiProblem. */
export function problem(status: number, code: string, message: string, requestId?: string): ApiProblem {
  return requestId === undefined ? { status, code, message } : { status, code, message, requestId };
}

/** The response for a problem: `{ "error": { "code", "message", "requestId"? } }`. */
export function errorResult(failure: ApiProblem): APIGatewayProxyResult {
  const body: ErrorBody = {
    error: {
      code: failure.code,
      message: failure.message,
      ...(failure.requestId === undefined ? {} : { requestId: failure.requestId }),
    },
  };
  return jsonResult(failure.status, body, failure.headers);
}

/** A header's value; API Gateway keeps the client's spelling of names, so lookups ignore case. */
export function headerValue(event: Pick<APIGatewayProxyEvent, 'headers'>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === wanted && value !== undefined) return value;
  }
  return undefined;
}

/** Where a handler reports failures that are ours, not the client's (the client gets a 500 or 503). */
export type ApiErrorListener = (message: string, fields: Record<string, unknown>) => void;

/** One structured JSON line on stderr with a fixed message, so a failure is never silent. */
export const defaultApiErrorListener: ApiErrorListener = (message, fields) => {
  process.stderr.write(`${JSON.stringify({ level: 'error', message, ...fields })}\n`);
};

/** The text of an error, for logs (core's one helper). */
export { messageOf } from '../../core/errors';
