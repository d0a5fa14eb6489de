/**
 * Request ids. Without an `Idempotency-Key` every request gets a fresh random UUID. With one, the
 * id is derived from the key (scoped by the caller's API key and the model), so a client that
 * retries after a lost response reaches the same request instead of queueing a second one: no
 * table of keys is needed, and the answer already recorded under that id is what the retry gets.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { headerValue, problem, type ApiProblem } from './http';
import { MAX_IDEMPOTENCY_KEY_LENGTH } from './limits';

export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';

const KEY_PATTERN = /^[\x21-\x7e]+$/;

export type RequestIdentity =
  | { readonly ok: true; readonly requestId: string; readonly idempotent: boolean }
  | { readonly ok: false; readonly problem: ApiProblem };

/** The request's id: derived from its idempotency key when it has one, else `newId()`. */
export function requestIdentity(
  event: Pick<APIGatewayProxyEvent, 'headers' | 'requestContext'>,
  model: string,
  newId: () => string = randomUUID,
): RequestIdentity {
  const key = headerValue(event, IDEMPOTENCY_KEY_HEADER);
  if (key === undefined) return { ok: true, requestId: newId(), idempotent: false };
  if (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH || !KEY_PATTERN.test(key)) {
    return {
      ok: false,
      problem: problem(
        400,
        'invalid_idempotency_key',
        `the ${IDEMPOTENCY_KEY_HEADER} header must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters ` +
          `(no spaces); got ${key.length} characters`,
      ),
    };
  }
  // API Gateway's id of the caller's API key, so two clients' keys never meet; absent locally.
  const caller = event.requestContext?.identity?.apiKeyId ?? '';
  return { ok: true, requestId: uuidFromKey(`${caller}\n${model}\n${key}`), idempotent: true };
}

/**
 * A UUID (version 8, "custom", per RFC 9562) from the SHA-256 of `text`: same text, same id, and
 * indistinguishable in form from the random ones.
 */
export function uuidFromKey(text: string): string {
  const hash = createHash('sha256').update(text, 'utf8').digest();
  hash[6] = ((hash[6] as number) & 0x0f) | 0x80;
  hash[8] = ((hash[8] as number) & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
