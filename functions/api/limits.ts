/**
 * The API's limits and defaults in one place, because the handlers enforce them, the OpenAPI
 * document states them and `docs/api.md` explains them: one constant each keeps the three in step.
 */

/**
 * Largest request body accepted, bytes. SQS refuses messages over 256 KiB, and the queued message
 * is the body's input plus a small envelope, so a larger body could never be queued anyway.
 */
export const DEFAULT_MAX_BODY_BYTES = 262_144;

/** Largest queued message, bytes: SQS's message size limit, applied on every transport alike. */
export const MAX_QUEUED_MESSAGE_BYTES = 262_144;

/** Shortest deadline a request may name, ms. */
export const MIN_DEADLINE_MS = 1;

/** Longest deadline a request may name, ms; beyond a minute an answer is no longer "serving". */
export const MAX_DEADLINE_MS = 60_000;

/** The deadline of a request that names none, ms, unless the deployment configures another. */
export const DEFAULT_DEADLINE_MS = 5_000;

/**
 * Longest a synchronous request may wait, ms. API Gateway (REST) ends an integration after 29 s
 * with an error of its own, so a synchronous wait must end, with our answer, before that.
 */
export const DEFAULT_MAX_SYNC_WAIT_MS = 25_000;

/** Longest the ingest side waits for the queue to take a request before answering 503, ms. */
export const DEFAULT_SEND_TIMEOUT_MS = 5_000;

/** Longest idempotency key accepted, characters. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 128;

/**
 * Largest image file accepted as a raw request body (`Content-Type: image/png` or `image/jpeg`),
 * bytes. The queued message carries the file as base64 (4 characters per 3 bytes) inside a small
 * envelope, so 190 KiB is the largest file whose message still fits the queue's 256 KiB.
 */
export const MAX_IMAGE_BODY_BYTES = 194_560;

/**
 * With pushed answers, a streamed request's acceptance is recorded only if its answer has not come
 * within this long (its id is in the stream's headers, so a GET may follow at once): most answers
 * come in milliseconds, and the worker's record of the answer then serves every reader, so the
 * extra write would only cost the table's (and dynalite's) time.
 */
export const DEFAULT_ACCEPTED_GRACE_MS = 1_000;
