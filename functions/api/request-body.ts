/**
 * Reading a request body: its size is checked on the raw bytes before anything is parsed (a huge
 * body must cost us nothing but the check), then it is parsed as JSON. Each failure becomes the
 * problem the client sees, saying what was wrong and what is allowed.
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { problem, type ApiProblem } from './http';

export type ParsedBody =
  { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly problem: ApiProblem };

/** The body's JSON value, or why it cannot be had (413 too large, 400 absent or not JSON). */
export function parseJsonBody(
  event: Pick<APIGatewayProxyEvent, 'body' | 'isBase64Encoded'>,
  maxBodyBytes: number,
): ParsedBody {
  const raw = event.body;
  if (raw === null || raw === undefined || raw.length === 0) {
    return refuse(
      400,
      'malformed_json',
      'the request has no body; send a JSON object such as {"inputs": ...}',
    );
  }
  // A string of n characters holds at least n*3/4 bytes as base64 and at least n bytes as UTF-8,
  // so the cheap length test refuses most oversized bodies before any decoding.
  const lowerBound = event.isBase64Encoded ? Math.floor((raw.length * 3) / 4) - 2 : raw.length;
  if (lowerBound > maxBodyBytes) return tooLarge(lowerBound, maxBodyBytes);
  const bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : undefined;
  const size = bytes?.length ?? Buffer.byteLength(raw, 'utf8');
  if (size > maxBodyBytes) return tooLarge(size, maxBodyBytes);
  const text = bytes === undefined ? raw : bytes.toString('utf8');
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    return refuse(
      400,
      'malformed_json',
      `the body is not valid JSON (${(error as Error).message}); send a JSON object such as {"inputs": ...}`,
    );
  }
}

function tooLarge(size: number, maxBodyBytes: number): ParsedBody {
  return refuse(
    413,
    'body_too_large',
    `the body is ${size} bytes; at most ${maxBodyBytes} bytes (${Math.floor(maxBodyBytes / 1024)} KiB) are accepted`,
  );
}

function refuse(status: number, code: string, message: string): ParsedBody {
  return { ok: false, problem: problem(status, code, message) };
}
