/**
 * A raw image file as the request body: `POST /v1/models/{model}/infer` with `Content-Type:
 * image/png` or `image/jpeg` and the file's bytes, as clients that hold a file send it. The body
 * becomes the same request as the JSON form `{"inputs": {"image": "<base64>"}}`, with `deadlineMs`
 * and `mode` taken from the query string, so every later check (decoding, the model's size, the
 * queue's limit) is the one JSON requests pass and both forms get the same answers.
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { headerValue, problem } from './http';
import { IMAGE_MEDIA_TYPES } from '../../core/inference/image-file';
import type { ParsedBody } from './request-body';

/** Query parameters a raw image request may carry: the JSON envelope's other fields. */
const QUERY_FIELDS = ['deadlineMs', 'mode'] as const;

/** The body's media type, lower case, without parameters (`charset=...`); undefined when absent. */
export function mediaTypeOf(event: Pick<APIGatewayProxyEvent, 'headers'>): string | undefined {
  const value = headerValue(event, 'content-type');
  const type = value?.split(';')[0]?.trim().toLowerCase();
  return type === undefined || type.length === 0 ? undefined : type;
}

/** Whether the body is meant as an image file (any `image/...` type, to refuse the unsupported ones). */
export function isImageMediaType(type: string | undefined): boolean {
  return type?.startsWith('image/') === true;
}

/**
 * The envelope of a raw image request, or why it cannot be had: 415 for an image type other than
 * PNG or JPEG, 400 for an empty body or an unknown query parameter, 413 for a file over
 * `maxImageBytes`. The bytes are not decoded here: the model's validator does that, as for base64.
 */
export function parseImageBody(
  event: Pick<APIGatewayProxyEvent, 'body' | 'isBase64Encoded' | 'headers' | 'queryStringParameters'>,
  maxImageBytes: number,
): ParsedBody {
  const type = mediaTypeOf(event) ?? '';
  if (!(IMAGE_MEDIA_TYPES as readonly string[]).includes(type)) {
    return refuse(
      415,
      'unsupported_media_type',
      `Content-Type ${type} is not accepted; an image body must be ${IMAGE_MEDIA_TYPES.join(' or ')} (or send JSON with content-type application/json)`,
    );
  }
  const raw = event.body ?? '';
  if (raw.length === 0) {
    return refuse(400, 'invalid_request', `the request has no body; send the ${type} file as the body`);
  }
  // API Gateway hands binary media types to the function base64-encoded; a body that arrived as
  // text cannot be a PNG or JPEG, and the decoder says so.
  const bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (bytes.length > maxImageBytes) {
    return refuse(
      413,
      'body_too_large',
      `the ${type} file is ${bytes.length} bytes; at most ${maxImageBytes} bytes (${Math.floor(maxImageBytes / 1024)} KiB) are accepted as an image body`,
    );
  }
  const query = event.queryStringParameters ?? {};
  const unknown = Object.keys(query).filter((name) => !(QUERY_FIELDS as readonly string[]).includes(name));
  if (unknown.length > 0) {
    return refuse(
      400,
      'invalid_request',
      `unknown query parameter ${unknown.map((name) => `"${name}"`).join(', ')}; an image body allows: ${QUERY_FIELDS.join(', ')}`,
    );
  }
  const envelope: Record<string, unknown> = { inputs: { image: bytes.toString('base64') } };
  const deadline = query['deadlineMs'];
  // A number-looking value becomes a number; anything else stays text, so the envelope's own
  // check refuses it with the message a JSON request would get.
  if (deadline !== undefined)
    envelope['deadlineMs'] = /^-?\d+(\.\d+)?$/.test(deadline) ? Number(deadline) : deadline;
  if (query['mode'] !== undefined) envelope['mode'] = query['mode'];
  return { ok: true, value: envelope };
}

function refuse(status: number, code: string, message: string): ParsedBody {
  return { ok: false, problem: problem(status, code, message) };
}
