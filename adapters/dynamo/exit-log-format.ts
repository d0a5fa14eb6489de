/**
 * The exit log's schema, key design and stored form.
 *
 * Keys: the partition key is `<model>#<minute>#<shard>` (the minute as `YYYY-MM-DDTHH:MMZ` in
 * UTC, the shard a hash of the batch id modulo the shard count) and the sort key is
 * `<startedAtMs, 15 digits>#<batchId>#<part, 4 digits>`. A model's last minutes are therefore a
 * handful of key-range queries (every shard of every minute in range, each sorted by time), and a
 * model's write traffic is spread over `shards` partitions that change every minute, so neither a
 * scan nor a hot partition is needed. The part number is always present so that no key of a
 * whole batch can equal a key of a part of another.
 *
 * Stored form: top-level attributes keep their full names (they are paid for once per item and
 * are what an analyst reads); the per-request fields repeat for every request of a batch, so they
 * are compact (see `StoredRequest` and docs/data-model.md).
 *
 * Size: a batch whose item would pass the item limit is split, never trimmed: its requests are
 * packed, in order, into as many parts as needed, each a complete item under `maxItemBytes`, and
 * the reader joins them back. Splitting is deterministic, so writing a batch twice writes the same
 * parts. Only a single request too large for an item on its own (which takes ids thousands of
 * characters long) is left out, and counted.
 */
import { z } from 'zod';
import { InputError } from '../../core/errors';
import {
  EXIT_LOG_KINDS,
  exitLogItemSchema,
  exitLogRequestSchema,
  FINAL_EXIT,
  type ExitLogItem,
  type ExitLogKind,
  type ExitLogRequest,
} from '../../core/serving/exit-log-item';
import { attributeValueBytes, itemBytes } from './item-size';
import { TTL_ATTRIBUTE } from './tables';

export {
  EXIT_LOG_KINDS,
  exitLogItemSchema,
  exitLogRequestSchema,
  FINAL_EXIT,
  type ExitLogItem,
  type ExitLogKind,
  type ExitLogRequest,
};

/** A week: long enough for the slow ramp-adjustment loop and for an analyst's look back. */
export const DEFAULT_EXIT_LOG_TTL_MS = 7 * 86_400_000;
/** Partition keys change every this many milliseconds: one minute. */
export const EXIT_LOG_BUCKET_MS = 60_000;
/** Shards per minute a writer spreads a model's items over, and a reader queries. */
export const DEFAULT_EXIT_LOG_SHARDS = 4;
/** Item-size target: under DynamoDB's 400 KB with room for any estimation error. */
export const DEFAULT_MAX_EXIT_LOG_ITEM_BYTES = 350_000;
/** Sort keys pad start times to this many digits, so string order is time order. */
const START_DIGITS = 15;
const PART_DIGITS = 4;
const MAX_PARTS = 10 ** PART_DIGITS;

/** A ramp's output in the stored form: i = ramp id, c = confidence, p = prediction. */
const storedRampSchema = z.object({ i: z.string(), c: z.number(), p: z.number() });
/**
 * A request in the stored form: id = request id, x = exit, rel = releasedMs, fin = finalMs,
 * fp = final prediction, r = ramps.
 */
const storedRequestSchema = z.object({
  id: z.string(),
  x: z.string(),
  rel: z.number(),
  fin: z.number(),
  fp: z.number(),
  r: z.array(storedRampSchema),
});
type StoredRequest = z.infer<typeof storedRequestSchema>;

/** The item as stored; checked field by field on the way back through `exitLogItemSchema`. */
export const storedExitLogSchema = z.object({
  pk: z.string(),
  sk: z.string(),
  model: z.string(),
  kind: z.enum(EXIT_LOG_KINDS).optional(),
  batchId: z.string(),
  startedAtMs: z.number(),
  configVersion: z.number(),
  batchSize: z.number(),
  paddedSize: z.number(),
  /** This item's index among the batch's parts, from 0. */
  part: z.number().int().nonnegative(),
  /** How many parts the batch was split into (1 when it fitted in one item). */
  parts: z.number().int().positive(),
  requests: z.array(storedRequestSchema),
  [TTL_ATTRIBUTE]: z.number(),
});
export type StoredExitLog = z.infer<typeof storedExitLogSchema>;

/** FNV-1a over UTF-16 code units: cheap, stable across processes and languages, well spread. */
export function hash32(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** The shard of a batch: a function of its id alone, so every part and every rewrite lands together. */
export function shardOf(batchId: string, shards: number): number {
  return hash32(batchId) % shards;
}

/**
 * Whether a batch is kept at `sampleRate`. Deterministic per batch id, so a redelivered write makes
 * the same choice, and salted so that the choice is independent of the shard.
 */
export function isSampled(batchId: string, sampleRate: number): boolean {
  if (sampleRate >= 1) return true;
  return hash32(`sample#${batchId}`) / 2 ** 32 < sampleRate;
}

/** The minute an epoch time falls in, as the partition key spells it: `2025-01-31T12:34Z`. */
export function minuteOf(epochMs: number): string {
  const bucketStartMs = Math.floor(epochMs / EXIT_LOG_BUCKET_MS) * EXIT_LOG_BUCKET_MS;
  return `${new Date(bucketStartMs).toISOString().slice(0, 16)}Z`;
}

export function exitLogPartitionKey(model: string, epochMs: number, shard: number): string {
  return `${model}#${minuteOf(epochMs)}#${shard}`;
}

/** The sort key's time prefix; keys of batches started at `epochMs` sort right after it. */
export function startKey(epochMs: number): string {
  return String(Math.max(0, Math.floor(epochMs))).padStart(START_DIGITS, '0');
}

export function exitLogSortKey(startedAtMs: number, batchId: string, part: number): string {
  return `${startKey(startedAtMs)}#${batchId}#${String(part).padStart(PART_DIGITS, '0')}`;
}

export interface StoredFormOptions {
  readonly shards: number;
  /** Epoch seconds at which DynamoDB may delete the items. */
  readonly expiresAt: number;
  readonly maxItemBytes: number;
}

export interface StoredForm {
  readonly items: StoredExitLog[];
  /** Requests left out because each alone would not fit in an item. */
  readonly oversizedRequests: number;
}

/** The items a checked batch is stored as: one, or several parts when it is too large for one. */
export function toStoredItems(item: ExitLogItem, options: StoredFormOptions): StoredForm {
  const shard = shardOf(item.batchId, options.shards);
  const pk = exitLogPartitionKey(item.model, item.startedAtMs, shard);
  const header = {
    pk,
    sk: exitLogSortKey(item.startedAtMs, item.batchId, MAX_PARTS - 1),
    model: item.model,
    ...(item.kind === undefined ? {} : { kind: item.kind }),
    batchId: item.batchId,
    startedAtMs: item.startedAtMs,
    configVersion: item.configVersion,
    batchSize: item.batchSize,
    paddedSize: item.paddedSize,
    part: MAX_PARTS - 1,
    parts: MAX_PARTS - 1,
    requests: [] as StoredRequest[],
    [TTL_ATTRIBUTE]: options.expiresAt,
  };
  // The header is measured with the widest part numbers, so every part's size is bounded above.
  const headerBytes = itemBytes(header);
  const groups: StoredRequest[][] = [];
  let current: StoredRequest[] = [];
  let currentBytes = headerBytes;
  let oversizedRequests = 0;
  for (const request of item.requests) {
    const stored = toStoredRequest(request);
    const bytes = 1 + attributeValueBytes(stored);
    if (headerBytes + bytes > options.maxItemBytes) {
      oversizedRequests += 1;
      continue;
    }
    if (currentBytes + bytes > options.maxItemBytes) {
      groups.push(current);
      current = [];
      currentBytes = headerBytes;
    }
    current.push(stored);
    currentBytes += bytes;
  }
  groups.push(current);
  if (groups.length > MAX_PARTS - 1) {
    // Thousands of parts means a batch of gigabytes; keep the first parts rather than fail it.
    oversizedRequests += groups.splice(MAX_PARTS - 1).reduce((sum, group) => sum + group.length, 0);
  }
  return {
    items: groups.map((requests, part) => ({
      ...header,
      sk: exitLogSortKey(item.startedAtMs, item.batchId, part),
      part,
      parts: groups.length,
      requests,
    })),
    oversizedRequests,
  };
}

function toStoredRequest(request: ExitLogRequest): StoredRequest {
  return {
    id: request.requestId,
    x: request.exit,
    rel: request.releasedMs,
    fin: request.finalMs,
    fp: request.finalPrediction,
    r: request.ramps.map((ramp) => ({ i: ramp.id, c: ramp.confidence, p: ramp.prediction })),
  };
}

/** The batch as recorded, from its parts (all of one batch, in any order). */
export function fromStoredItems(parts: readonly StoredExitLog[]): ExitLogItem {
  const ordered = [...parts].sort((a, b) => a.part - b.part);
  const first = ordered[0];
  if (first === undefined) throw new RangeError('fromStoredItems needs at least one part');
  return {
    model: first.model,
    ...(first.kind === undefined ? {} : { kind: first.kind }),
    batchId: first.batchId,
    startedAtMs: first.startedAtMs,
    configVersion: first.configVersion,
    batchSize: first.batchSize,
    paddedSize: first.paddedSize,
    requests: ordered.flatMap((part) =>
      part.requests.map((request) => ({
        requestId: request.id,
        exit: request.x,
        releasedMs: request.rel,
        finalMs: request.fin,
        ramps: request.r.map((ramp) => ({ id: ramp.i, confidence: ramp.c, prediction: ramp.p })),
        finalPrediction: request.fp,
      })),
    ),
  };
}

/** Checks a whole-number option of the writer or the reader against its range. */
export function checkWhole(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new InputError(`${name} must be a whole number from ${min} to ${max}, got ${value}`);
  }
  return value;
}
