/**
 * Versioned documents in the configs table, one partition each: what the ramp configs (one
 * partition per model) and the fleet plans (one partition per task) share, so that both are
 * published with the same conditional writes and read back with the same checks.
 *
 * Versions are whole numbers from 0. Each partition also holds one head item at version -1 whose
 * `latestVersion` is the highest version ever admitted. Publishing without transactions (dynalite
 * has none) takes two conditional writes:
 * 1. the head admits version v only if `latestVersion <= v` (a version below one already admitted
 *    is refused, atomically, however publishers interleave);
 * 2. the version item is put only if no item with that version exists (of several publishers of
 *    the same version exactly one wins, and a repeat of a published version is refused).
 * A publisher that dies between the two leaves the head at v with no item v; publishing v again
 * completes it, since step 1 admits an equal version. Readers never need the head: the newest
 * document is the first valid item of a descending, strongly consistent query over versions >= 0.
 */
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { describeIssues, InputError } from '../../core/errors';
import { CONDITIONAL_CHECK_FAILED, isServiceError, type DocumentSender } from './dynamo-client';
import { CONFIGS_TABLE } from './tables';

/** The sort key of each partition's head item; below every document version. */
export const CONFIG_HEAD_VERSION = -1;

/** A history read returns at most this many documents per call. */
export const MAX_HISTORY = 1000;

/** Refuses a history limit outside 1 to `MAX_HISTORY`, saying what is allowed. */
export function checkHistoryLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_HISTORY) {
    throw new InputError(`history limit must be a whole number from 1 to ${MAX_HISTORY}, got ${limit}`);
  }
}

/**
 * A publish that lost: its version is not above the newest admitted one, or was published already.
 * Each store names what was published (`config`, `plan`) and whose it is (`model m`, `task t`).
 */
export class VersionConflictError extends Error {
  constructor(
    what: string,
    owner: string,
    readonly version: number,
    /** The highest version admitted when the publish was refused, where known. */
    readonly latestVersion: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(
      `${what} version ${version} of ${owner} was not published: ` +
        (latestVersion === undefined
          ? 'another publisher won'
          : `version ${latestVersion} is already published or being published`),
      options,
    );
  }
}

const PARTITION = CONFIGS_TABLE.partitionKey.name;
const VERSION = CONFIGS_TABLE.sortKey.name;

export interface VersionedDocument<T> {
  readonly partition: string;
  readonly document: T;
  readonly publishedAtMs: number;
}

/** A stored item that failed validation: skipped, and reported here. */
export interface InvalidDocumentReport {
  readonly partition: string;
  readonly version: unknown;
  readonly reason: string;
}

export interface VersionedDocumentsOptions<T> {
  readonly client: DocumentSender;
  readonly tableName: string;
  /** The item attribute holding the document (`config`, `plan`). */
  readonly attribute: string;
  /** Checks every document written and read. */
  readonly schema: z.ZodType<T>;
  /** The document's own version, which must equal the item's sort key. */
  readonly versionOf: (document: T) => number;
  /** The error a lost publish rejects with; `latestVersion` is the head's, where it could be read. */
  readonly conflict: (
    partition: string,
    version: number,
    latestVersion: number | undefined,
    cause: unknown,
  ) => Error;
  readonly onInvalid: (report: InvalidDocumentReport) => void;
  /** @default Date.now */
  readonly nowMs?: () => number;
}

export class VersionedDocuments<T> {
  private readonly nowMs: () => number;
  private readonly storedSchema: z.ZodType<{ version: number; document: unknown; publishedAtMs: number }>;

  constructor(private readonly options: VersionedDocumentsOptions<T>) {
    this.nowMs = options.nowMs ?? Date.now;
    this.storedSchema = z
      .object({
        [PARTITION]: z.string(),
        [VERSION]: z.number().int().nonnegative(),
        [options.attribute]: z.unknown(),
        publishedAtMs: z.number().nonnegative(),
      })
      .transform((item) => ({
        version: item[VERSION] as number,
        document: item[options.attribute],
        publishedAtMs: item['publishedAtMs'] as number,
      }));
  }

  /** Publishes an already validated document; rejects with `conflict` when it is not newest. */
  async publish(partition: string, document: T): Promise<VersionedDocument<T>> {
    const version = this.options.versionOf(document);
    const publishedAtMs = this.nowMs();
    try {
      await this.options.client.send(
        new UpdateCommand({
          TableName: this.options.tableName,
          Key: { [PARTITION]: partition, [VERSION]: CONFIG_HEAD_VERSION },
          UpdateExpression: 'SET #latest = :version, #updatedAtMs = :now',
          ConditionExpression: 'attribute_not_exists(#latest) OR #latest <= :version',
          ExpressionAttributeNames: { '#latest': 'latestVersion', '#updatedAtMs': 'updatedAtMs' },
          ExpressionAttributeValues: { ':version': version, ':now': publishedAtMs },
        }),
      );
    } catch (error) {
      if (!isServiceError(error, CONDITIONAL_CHECK_FAILED)) throw error;
      throw this.options.conflict(partition, version, await this.admittedVersion(partition), error);
    }
    try {
      await this.options.client.send(
        new PutCommand({
          TableName: this.options.tableName,
          Item: {
            [PARTITION]: partition,
            [VERSION]: version,
            [this.options.attribute]: document,
            publishedAtMs,
          },
          ConditionExpression: 'attribute_not_exists(#version)',
          ExpressionAttributeNames: { '#version': VERSION },
        }),
      );
    } catch (error) {
      if (!isServiceError(error, CONDITIONAL_CHECK_FAILED)) throw error;
      throw this.options.conflict(partition, version, await this.admittedVersion(partition), error);
    }
    return { partition, document, publishedAtMs };
  }

  /**
   * Walks versions newest first, strongly consistent (a reader must not miss a document just
   * published; the items are small), until `count` valid documents are found or none are left.
   */
  async newestValid(partition: string, count: number): Promise<VersionedDocument<T>[]> {
    const found: VersionedDocument<T>[] = [];
    let startAfter: Record<string, unknown> | undefined;
    do {
      const page = await this.options.client.send(
        new QueryCommand({
          TableName: this.options.tableName,
          KeyConditionExpression: '#partition = :partition AND #version >= :first',
          ExpressionAttributeNames: { '#partition': PARTITION, '#version': VERSION },
          ExpressionAttributeValues: { ':partition': partition, ':first': 0 },
          ScanIndexForward: false,
          ConsistentRead: true,
          // A few more than needed, so one invalid item rarely costs a second round trip.
          Limit: Math.min(count + 4, 100),
          ExclusiveStartKey: startAfter,
        }),
      );
      for (const item of page.Items ?? []) {
        const document = this.validate(partition, item);
        if (document !== undefined) found.push(document);
        if (found.length === count) return found;
      }
      startAfter = page.LastEvaluatedKey;
    } while (startAfter !== undefined);
    return found;
  }

  private validate(partition: string, item: Record<string, unknown>): VersionedDocument<T> | undefined {
    const stored = this.storedSchema.safeParse(item);
    if (!stored.success) {
      this.options.onInvalid({
        partition,
        version: item[VERSION],
        reason: describeIssues(stored.error.issues),
      });
      return undefined;
    }
    const { version, publishedAtMs } = stored.data;
    const document = this.options.schema.safeParse(stored.data.document);
    if (!document.success) {
      this.options.onInvalid({
        partition,
        version,
        reason: describeIssues(
          document.error.issues.map((issue) => ({ ...issue, path: [this.options.attribute, ...issue.path] })),
        ),
      });
      return undefined;
    }
    const own = this.options.versionOf(document.data);
    if (own !== version) {
      this.options.onInvalid({
        partition,
        version,
        reason: `${this.options.attribute}.version ${own} differs from the item's version`,
      });
      return undefined;
    }
    return { partition, document: document.data, publishedAtMs };
  }

  /** The head's admitted version, for the conflict message; undefined if it cannot be read. */
  private async admittedVersion(partition: string): Promise<number | undefined> {
    try {
      const { Item } = await this.options.client.send(
        new GetCommand({
          TableName: this.options.tableName,
          Key: { [PARTITION]: partition, [VERSION]: CONFIG_HEAD_VERSION },
          ConsistentRead: true,
        }),
      );
      const latest: unknown = Item?.['latestVersion'];
      return typeof latest === 'number' ? latest : undefined;
    } catch {
      return undefined;
    }
  }
}
