/**
 * How a request travels as text, and the check every consumer makes before a body reaches the
 * batcher. Every transport carries JSON, so the in-process queue does too: a request that would not
 * survive the trip (an `undefined` input, a typed array) is refused at `send` on every transport
 * alike instead of turning into a poison message on one of them.
 */
import { describeIssues, InputError } from '../../core/errors';
import { inferenceRequestSchema, type InferenceRequest } from './request-queue';

export type DecodedBody =
  { readonly ok: true; readonly request: InferenceRequest } | { readonly ok: false; readonly reason: string };

/** Checks an already-parsed body (BullMQ hands job data over parsed) against the schema. */
export function decodeRequestData(data: unknown): DecodedBody {
  const parsed = inferenceRequestSchema.safeParse(data);
  return parsed.success
    ? { ok: true, request: parsed.data }
    : { ok: false, reason: describeIssues(parsed.error.issues) };
}

/** Parses and checks a body received as text; never throws, since a bad body is the sender's fault. */
export function decodeRequestBody(body: string): DecodedBody {
  let data: unknown;
  try {
    data = JSON.parse(body);
  } catch (error) {
    return { ok: false, reason: `body is not JSON (${(error as Error).message})` };
  }
  return decodeRequestData(data);
}

/**
 * The JSON text of a request, checked the way a consumer will check it, so that whatever `send`
 * accepts is delivered rather than dead-lettered. Returns the checked request alongside the text.
 */
export function encodeRequestBody(request: InferenceRequest): { body: string; request: InferenceRequest } {
  let body: string | undefined;
  try {
    body = JSON.stringify(request);
  } catch (error) {
    throw new InputError('inference request cannot be queued: it is not JSON-serialisable', { cause: error });
  }
  if (body === undefined) {
    throw new InputError('inference request cannot be queued: it is not a JSON object');
  }
  const decoded = decodeRequestBody(body);
  if (!decoded.ok) {
    throw new InputError(`inference request cannot be queued: ${decoded.reason}`);
  }
  return { body, request: decoded.request };
}
