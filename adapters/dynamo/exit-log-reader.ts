/**
 * The exit log's reader, for the controller, the dashboard, `apparate logs` and analysts: a model's
 * batches in a time range by key queries (every shard of every minute, no scan), parts joined back
 * into whole batches, and invalid items reported and skipped. The schema, key design and stored
 * form are in exit-log-format.ts; the writer is exit-log-writer.ts.
 */
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { describeIssues, InputError } from '../../core/errors';
import { type DocumentSender } from './dynamo-client';
import {
  checkWhole,
  DEFAULT_EXIT_LOG_TTL_MS,
  DEFAULT_EXIT_LOG_SHARDS,
  EXIT_LOG_BUCKET_MS,
  exitLogItemSchema,
  exitLogPartitionKey,
  fromStoredItems,
  startKey,
  storedExitLogSchema,
  type ExitLogItem,
  type StoredExitLog,
} from './exit-log-format';
import { checkModelId, EXIT_LOGS_TABLE, TTL_ATTRIBUTE } from './tables';

export interface InvalidExitLogReport {
  readonly pk?: string;
  readonly sk?: string;
  readonly reason: string;
}

export interface ExitLogReaderOptions {
  readonly client: DocumentSender;
  readonly tableName: string;
  /**
   * Shards queried per minute: at least the largest `shards` any writer used within the TTL
   * (querying an unused shard costs one empty query). @default DEFAULT_EXIT_LOG_SHARDS (4)
   */
  readonly shards?: number;
  /** Queries in flight at once. @default 8 */
  readonly maxConcurrentQueries?: number;
  /**
   * Longest range one call may ask for; each minute costs `shards` queries, and nothing older than
   * the TTL survives anyway. @default DEFAULT_EXIT_LOG_TTL_MS (7 days)
   */
  readonly maxRangeMs?: number;
  /** The clock for the default end of the range and for hiding expired items. @default Date.now */
  readonly nowMs?: () => number;
  /** Receives items skipped because they fail the schema, and batches missing parts. @default stderr */
  readonly onInvalidItem?: (report: InvalidExitLogReport) => void;
  /**
   * Receives every item left out because its TTL has passed (DynamoDB deletes such items only
   * eventually), so a reader can say why a range came back emptier than it was. @default ignored
   */
  readonly onExpiredItem?: (item: {
    readonly pk: string;
    readonly sk: string;
    readonly expiresAt: number;
  }) => void;
}

/**
 * Reads one model's exit logs for a time range by key queries alone: every shard of every minute
 * in the range, each query paginated, the parts of split batches joined back together, and the
 * result in time order. Items past their TTL are left out, since DynamoDB deletes them only
 * eventually; items that fail the schema are skipped and reported, never returned.
 */
export class ExitLogReader {
  private readonly client: DocumentSender;
  private readonly tableName: string;
  private readonly shards: number;
  private readonly maxConcurrentQueries: number;
  private readonly maxRangeMs: number;
  private readonly nowMs: () => number;
  private readonly onInvalidItem: (report: InvalidExitLogReport) => void;
  private readonly onExpiredItem: ExitLogReaderOptions['onExpiredItem'];

  constructor(options: ExitLogReaderOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.shards = checkWhole('shards', options.shards ?? DEFAULT_EXIT_LOG_SHARDS, 1, 1000);
    this.maxConcurrentQueries = checkWhole('maxConcurrentQueries', options.maxConcurrentQueries ?? 8, 1, 256);
    this.maxRangeMs = checkWhole(
      'maxRangeMs',
      options.maxRangeMs ?? DEFAULT_EXIT_LOG_TTL_MS,
      1,
      Number.MAX_SAFE_INTEGER,
    );
    this.nowMs = options.nowMs ?? Date.now;
    this.onInvalidItem = options.onInvalidItem ?? defaultInvalidItemListener;
    this.onExpiredItem = options.onExpiredItem;
  }

  /** Batches of `model` that started in [sinceMs, untilMs), oldest first (ties by batch id). */
  async since(model: string, sinceMs: number, untilMs?: number): Promise<ExitLogItem[]> {
    checkModelId(model);
    const nowMs = this.nowMs();
    const endMs = untilMs ?? nowMs;
    if (!Number.isFinite(sinceMs) || !Number.isFinite(endMs) || sinceMs < 0) {
      throw new InputError(
        `exit log range must be finite, non-negative epoch ms, got ${sinceMs} to ${endMs}`,
      );
    }
    if (endMs <= sinceMs) return [];
    if (endMs - sinceMs > this.maxRangeMs) {
      throw new InputError(
        `exit log range of ${endMs - sinceMs} ms is longer than maxRangeMs (${this.maxRangeMs} ms); read it in pieces`,
      );
    }
    const queries: (() => Promise<StoredExitLog[]>)[] = [];
    const firstBucketMs = Math.floor(sinceMs / EXIT_LOG_BUCKET_MS) * EXIT_LOG_BUCKET_MS;
    for (let bucketMs = firstBucketMs; bucketMs < endMs; bucketMs += EXIT_LOG_BUCKET_MS) {
      for (let shard = 0; shard < this.shards; shard++) {
        const pk = exitLogPartitionKey(model, bucketMs, shard);
        queries.push(() => this.queryPartition(pk, startKey(sinceMs), startKey(endMs)));
      }
    }
    const stored = (await runWithConcurrency(queries, this.maxConcurrentQueries)).flat();
    return this.assemble(stored, model, nowMs);
  }

  /**
   * One partition's items with sort keys between two time prefixes. BETWEEN is inclusive, but no
   * stored key equals a bare prefix, so this is exactly the batches started in [from, to).
   */
  private async queryPartition(pk: string, fromKey: string, toKey: string): Promise<StoredExitLog[]> {
    const items: StoredExitLog[] = [];
    let startAfter: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :from AND :to',
          ExpressionAttributeNames: {
            '#pk': EXIT_LOGS_TABLE.partitionKey.name,
            '#sk': EXIT_LOGS_TABLE.sortKey.name,
          },
          ExpressionAttributeValues: { ':pk': pk, ':from': fromKey, ':to': toKey },
          ExclusiveStartKey: startAfter,
        }),
      );
      for (const raw of page.Items ?? []) {
        const parsed = storedExitLogSchema.safeParse(raw);
        if (parsed.success) items.push(parsed.data);
        else this.reportInvalid(raw, describeIssues(parsed.error.issues));
      }
      startAfter = page.LastEvaluatedKey;
    } while (startAfter !== undefined);
    return items;
  }

  private assemble(stored: readonly StoredExitLog[], model: string, nowMs: number): ExitLogItem[] {
    const batches = new Map<string, StoredExitLog[]>();
    for (const item of stored) {
      if (item.model !== model) continue;
      if (item[TTL_ATTRIBUTE] * 1000 <= nowMs) {
        this.onExpiredItem?.({ pk: item.pk, sk: item.sk, expiresAt: item[TTL_ATTRIBUTE] });
        continue;
      }
      const key = `${item.pk}\u0000${item.startedAtMs}\u0000${item.batchId}`;
      const parts = batches.get(key);
      if (parts === undefined) batches.set(key, [item]);
      else parts.push(item);
    }
    const result: ExitLogItem[] = [];
    for (const parts of batches.values()) {
      const first = parts[0] as StoredExitLog;
      if (parts.length !== first.parts) {
        // Each part is a complete set of requests; a missing part loses those requests only.
        this.reportInvalid(first, `batch ${first.batchId} has ${parts.length} of ${first.parts} parts`);
      }
      const checked = exitLogItemSchema.safeParse(fromStoredItems(parts));
      if (checked.success) result.push(checked.data);
      else this.reportInvalid(first, describeIssues(checked.error.issues));
    }
    return result.sort(
      (a, b) => a.startedAtMs - b.startedAtMs || (a.batchId < b.batchId ? -1 : a.batchId > b.batchId ? 1 : 0),
    );
  }

  private reportInvalid(raw: unknown, reason: string): void {
    const keys = (raw ?? {}) as { pk?: unknown; sk?: unknown };
    this.onInvalidItem({
      ...(typeof keys.pk === 'string' ? { pk: keys.pk } : {}),
      ...(typeof keys.sk === 'string' ? { sk: keys.sk } : {}),
      reason,
    });
  }
}

function defaultInvalidItemListener(report: InvalidExitLogReport): void {
  process.stderr.write(
    `${JSON.stringify({ level: 'warn', message: 'invalid exit log item skipped', ...report })}\n`,
  );
}

/** Runs tasks with at most `limit` in flight; results in task order; the first failure rejects. */
async function runWithConcurrency<T>(tasks: readonly (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array<T>(tasks.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, tasks.length) }, async () => {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await (tasks[index] as () => Promise<T>)();
    }
  });
  await Promise.all(lanes);
  return results;
}
