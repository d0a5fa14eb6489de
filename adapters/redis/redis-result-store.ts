/**
 * The results of a BullMQ deployment, kept in the same Redis as its queue so that such a deployment
 * needs no DynamoDB: one hash per request id, with the early answer, the final answer and an error
 * in separate fields (JSON text), and the model id beside them.
 *
 * Delivery is at least once, so each write is one Lua script (atomic in Redis) that is idempotent by
 * request id and safe in any order, with the same rules as the DynamoDB results table:
 * - an early or a final answer is written with HSETNX: the first one wins and a repeat is a no-op;
 * - a final answer removes an error left by an earlier delivery that failed (the retry succeeded);
 * - an error is recorded only while there is no final answer, so a redundant redelivery that fails
 *   cannot hide an answer already given;
 * - every write moves the hash's expiry to `ttlMs` after it.
 *
 * Jobs are removed from BullMQ when acknowledged (`removeOnComplete`), so the job itself cannot
 * carry the answer; the hash outlives it until its expiry.
 */
import { RedisConnection, type RedisClient } from 'bullmq';
import { z } from 'zod';
import { ArtifactError, describeIssues, InputError, parseInput } from '../../core/errors';
import { withoutUndefined } from '../../core/util/without-undefined';
import {
  answerErrorSchema,
  earlyAnswerSchema,
  finalAnswerSchema,
  MAX_ERROR_MESSAGE_LENGTH,
  requestIdSchema,
  type AnswerError,
} from '../../core/serving/answers';
import { answeredStatus, checkResultTtlMs } from '../../core/serving/stored-results';
import { resolveRedisUrl } from './redis-url';

/** Where result hashes live unless told otherwise: `<prefix>:<namespace>:<requestId>`. */
export const DEFAULT_RESULT_KEY_PREFIX = 'apparate:results';

const recordedAtMsSchema = z.number().nonnegative();

/**
 * What a hash keeps of an early answer: the worker's answer (core/serving/answers.ts) without its
 * release time; the model sits beside the answers, in its own field.
 */
const earlyInputSchema = earlyAnswerSchema.omit({ releasedAtMs: true });
const storedEarlySchema = earlyInputSchema.omit({ model: true });
type StoredEarly = z.infer<typeof storedEarlySchema>;
/** What a hash keeps of a final answer. */
const finalInputSchema = finalAnswerSchema.omit({ releasedAtMs: true });
const storedFinalSchema = finalInputSchema.omit({ model: true });
type StoredFinal = z.infer<typeof storedFinalSchema>;

/** What a reader sees; `status` is the most final thing known, as in the results table. */
export interface RedisResultRecord {
  readonly requestId: string;
  readonly status: 'early' | 'final' | 'error';
  readonly model?: string;
  readonly early?: StoredEarly & { readonly recordedAtMs: number };
  readonly final?: StoredFinal & { readonly recordedAtMs: number };
  readonly error?: AnswerError & { readonly recordedAtMs: number };
}

export interface RedisResultStoreOptions {
  /** Separates deployments sharing one Redis; use the BullMQ queue name. */
  readonly namespace: string;
  /** A redis:// or rediss:// URL. @default process.env.REDIS_URL, else DEFAULT_REDIS_URL */
  readonly redisUrl?: string;
  /** How long a hash lives after its last write. @default DEFAULT_RESULT_TTL_MS of core/serving/stored-results.ts (1 day), as for the results table */
  readonly ttlMs?: number;
  /** @default DEFAULT_RESULT_KEY_PREFIX */
  readonly keyPrefix?: string;
  /** The clock for recorded times. @default Date.now */
  readonly nowMs?: () => number;
  /** Connection errors that will be retried. @default one JSON line on stderr */
  readonly onError?: (error: Error) => void;
}

// KEYS[1] the hash; ARGV[1] the answer's JSON, ARGV[2] the expiry in ms, ARGV[3] the model id.
const PUT_EARLY = `
local added = redis.call('HSETNX', KEYS[1], 'early', ARGV[1])
redis.call('HSETNX', KEYS[1], 'model', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return added`;
const PUT_FINAL = `
local added = redis.call('HSETNX', KEYS[1], 'final', ARGV[1])
redis.call('HSETNX', KEYS[1], 'model', ARGV[3])
redis.call('HDEL', KEYS[1], 'error')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return added`;
const PUT_ERROR = `
if redis.call('HEXISTS', KEYS[1], 'final') == 1 then return 0 end
local added = redis.call('HSETNX', KEYS[1], 'error', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return added`;
const COMMANDS = {
  apparatePutEarly: PUT_EARLY,
  apparatePutFinal: PUT_FINAL,
  apparatePutError: PUT_ERROR,
} as const;
type CommandName = keyof typeof COMMANDS;

const storedHashSchema = z.object({
  model: z.string().optional(),
  early: z.string().optional(),
  final: z.string().optional(),
  error: z.string().optional(),
});

/**
 * Reads and writes result hashes. One connection (opened on first use through BullMQ's own
 * connection class, so no second Redis client library is needed); `close` frees it.
 */
export class RedisResultStore {
  readonly namespace: string;
  private readonly connection: RedisConnection;
  private readonly ttlMs: number;
  private readonly keyPrefix: string;
  private readonly nowMs: () => number;
  private ready: Promise<RedisClient> | undefined;

  constructor(options: RedisResultStoreOptions) {
    const ttlMs = checkResultTtlMs(options.ttlMs);
    if (options.namespace.length === 0 || options.namespace.includes(':')) {
      throw new InputError(
        `result namespace must be non-empty and free of ':', got ${JSON.stringify(options.namespace)}`,
      );
    }
    const url = resolveRedisUrl(options.redisUrl);
    this.namespace = options.namespace;
    this.ttlMs = ttlMs;
    this.keyPrefix = options.keyPrefix ?? DEFAULT_RESULT_KEY_PREFIX;
    this.nowMs = options.nowMs ?? Date.now;
    this.connection = new RedisConnection(
      { url, maxRetriesPerRequest: 3, enableOfflineQueue: true },
      { shared: false, blocking: false, skipVersionCheck: true },
    );
    const onError =
      options.onError ??
      ((error: Error) =>
        process.stderr.write(
          `${JSON.stringify({ level: 'warn', message: 'result store connection error', error: error.message })}\n`,
        ));
    this.connection.on('error', onError);
  }

  /** The hash's key for a request id. */
  keyFor(requestId: string): string {
    return `${this.keyPrefix}:${this.namespace}:${requestId}`;
  }

  /** Records an early answer; false when one was already there (a redelivery). */
  putEarly(requestId: string, answer: z.input<typeof earlyInputSchema>): Promise<boolean> {
    const checked = parseInput(earlyInputSchema, answer, 'early answer');
    return this.write('apparatePutEarly', requestId, storedEarlySchema.parse(checked), checked.model);
  }

  /** Records the full model's answer beside any early one; false when one was already there. */
  putFinal(requestId: string, answer: z.input<typeof finalInputSchema>): Promise<boolean> {
    const checked = parseInput(finalInputSchema, answer, 'final answer');
    return this.write(
      'apparatePutFinal',
      requestId,
      withoutUndefined(storedFinalSchema.parse(checked)),
      checked.model,
    );
  }

  /** Records why a request failed; false (nothing changed) when a final answer or an error is there. */
  putError(requestId: string, error: AnswerError): Promise<boolean> {
    const checked = parseInput(
      answerErrorSchema,
      { code: error.code, message: error.message.slice(0, MAX_ERROR_MESSAGE_LENGTH) },
      'result error',
    );
    return this.write('apparatePutError', requestId, checked, '');
  }

  /**
   * The request's record, or undefined when there is none (or it expired). Throws ArtifactError
   * when a stored field is corrupt, so a corrupt hash is never served as an answer.
   */
  async get(requestId: string): Promise<RedisResultRecord | undefined> {
    const id = parseInput(requestIdSchema, requestId, 'request id');
    const client = await this.client();
    const hash = await client.hgetall(this.keyFor(id));
    if (Object.keys(hash).length === 0) return undefined;
    const corrupt = (detail: string, cause?: unknown): ArtifactError =>
      new ArtifactError(`result hash ${this.keyFor(id)} is corrupt: ${detail}`, { cause });
    const fields = storedHashSchema.safeParse(hash);
    if (!fields.success) throw corrupt(describeIssues(fields.error.issues), fields.error);
    const read = <T>(schema: z.ZodType<T>, text: string | undefined, field: string): T | undefined => {
      if (text === undefined) return undefined;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (error) {
        throw corrupt(`${field} is not JSON`, error);
      }
      const parsed = schema.safeParse(value);
      if (!parsed.success) throw corrupt(`${field}: ${describeIssues(parsed.error.issues)}`, parsed.error);
      return parsed.data;
    };
    const stamp = { recordedAtMs: recordedAtMsSchema };
    const early = read(storedEarlySchema.extend(stamp), fields.data.early, 'early');
    const final = read(storedFinalSchema.extend(stamp), fields.data.final, 'final');
    const error = read(answerErrorSchema.extend(stamp), fields.data.error, 'error');
    const status = answeredStatus({ early, final, error });
    if (status === undefined) throw corrupt('holds neither an answer nor an error');
    return {
      requestId: id,
      status,
      ...withoutUndefined({ model: fields.data.model || undefined, early, final, error }),
    };
  }

  /** Frees the connection. */
  async close(): Promise<void> {
    await this.connection.close();
  }

  private async write(name: CommandName, requestId: string, value: object, model: string): Promise<boolean> {
    const id = parseInput(requestIdSchema, requestId, 'request id');
    const client = await this.client();
    const json = JSON.stringify({ ...value, recordedAtMs: this.nowMs() });
    const added: unknown = await client.runCommand(name, [this.keyFor(id), json, String(this.ttlMs), model]);
    return added === 1;
  }

  private client(): Promise<RedisClient> {
    this.ready ??= this.connection.client.then((client) => {
      for (const [name, lua] of Object.entries(COMMANDS))
        client.defineCommand(name, { numberOfKeys: 1, lua });
      return client;
    });
    return this.ready;
  }
}
