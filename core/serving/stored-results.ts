/**
 * What every store of answers (the DynamoDB results table, the Redis hashes) does alike, beside
 * the write rules each implements in its own terms (first answer wins, a final answer clears an
 * error, an error never hides a final answer): how long a record lives, and which status a reader
 * sees. Kept here so that the stores, which must not import each other, cannot drift apart.
 */
import { InputError } from '../errors';

/** One day: long enough for an asynchronous client to come back for its answer. */
export const DEFAULT_RESULT_TTL_MS = 86_400_000;

/** A record's lifetime after its last write, ms: `ttlMs` when given and valid, else the default. */
export function checkResultTtlMs(ttlMs: number = DEFAULT_RESULT_TTL_MS): number {
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1000) {
    throw new InputError(`ttlMs must be a whole number of milliseconds of at least 1000, got ${ttlMs}`);
  }
  return ttlMs;
}

/** What a record may hold, most final first: the precedence every reader of answers applies. */
const PRECEDENCE = ['final', 'error', 'early'] as const;

/**
 * The most final thing a record holds: a final answer wins over an error (the retry succeeded), an
 * error over a lone early answer (the early answer stays readable); undefined when it holds none.
 */
export function answeredStatus(record: {
  readonly early?: unknown;
  readonly final?: unknown;
  readonly error?: unknown;
}): 'final' | 'error' | 'early' | undefined {
  return PRECEDENCE.find((status) => record[status] !== undefined);
}

/**
 * Of several records of one request, the one a reader is shown: the most final by the same
 * precedence, a pending one (holding nothing yet) last; undefined when there is none. A task's API
 * on AWS keeps one record per variant's results table and reads them all.
 */
export function mostFinalRecord<R extends { readonly status: 'pending' | (typeof PRECEDENCE)[number] }>(
  records: readonly (R | undefined)[],
): R | undefined {
  const rank = (record: R): number =>
    record.status === 'pending' ? PRECEDENCE.length : PRECEDENCE.indexOf(record.status);
  let best: R | undefined;
  for (const record of records) {
    if (record !== undefined && (best === undefined || rank(record) < rank(best))) best = record;
  }
  return best;
}
