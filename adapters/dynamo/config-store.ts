/**
 * Versioned ramp configs per model: the controller publishes, every worker polls `latest`.
 *
 * Key design: partition key `model`, sort key `version` (a number). Config versions are whole
 * numbers from 0 (rampConfigSchema), so each model's partition also holds one head item at version
 * -1 whose `latestVersion` is the highest version ever admitted. Reads never need the head: the
 * newest config is the first valid item of a descending query over versions >= 0.
 *
 * Publishing without transactions (dynalite has none) takes two conditional writes:
 * 1. the head admits version v only if `latestVersion <= v` (so a version below one already
 *    admitted is refused, atomically, however publishers interleave);
 * 2. the version item is put only if no item with that version exists (so of several publishers of
 *    the same version exactly one wins, and a repeat of a published version is refused).
 * A publisher that dies between the two leaves the head at v with no item v; publishing v again
 * completes it, since step 1 admits an equal version. Two publishers of different versions that
 * both pass step 1 both win; the higher one is what `latest` returns either way, and workers apply
 * only versions newer than their own, so no worker ever goes back.
 *
 * The same partition holds one more item, at version -2: the scheduled controller's own state
 * (`controllerState`), written with a revision check so that concurrent runs cannot both act.
 *
 * A losing publisher gets a ConfigConflictError (not a `false`), since the controller should log
 * why its config was not published and carry on with the newer one. Configs never expire.
 */
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { ArtifactError, describeIssues, InputError } from '../../core/errors';
import { rampConfigSchema, type RampConfig } from '../../core/bundle/manifest';
import { CONDITIONAL_CHECK_FAILED, isServiceError, type DocumentSender } from './dynamo-client';
import { checkModelId, CONFIGS_TABLE } from './tables';

/** The sort key of each model's head item; below every config version. */
export const CONFIG_HEAD_VERSION = -1;
/**
 * The sort key of each model's controller-state item (see `controllerState`): below the head and
 * every config version, so no config read, which asks for versions >= 0, can ever return it.
 */
export const CONTROLLER_STATE_VERSION = -2;
/** `history` returns at most this many configs per call. */
export const MAX_CONFIG_HISTORY = 1000;

const MODEL = CONFIGS_TABLE.partitionKey.name;
const VERSION = CONFIGS_TABLE.sortKey.name;

/** The publish lost: its version is not above the newest admitted one, or was published already. */
export class ConfigConflictError extends Error {
  override readonly name = 'ConfigConflictError';
  constructor(
    readonly model: string,
    readonly version: number,
    /** The highest version admitted when the publish was refused, where known. */
    readonly latestVersion: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(
      `config version ${version} of model ${model} was not published: ` +
        (latestVersion === undefined
          ? 'another publisher won'
          : `version ${latestVersion} is already published or being published`),
      options,
    );
  }
}

export interface PublishedConfig {
  readonly model: string;
  readonly config: RampConfig;
  readonly publishedAtMs: number;
}

/** The controller's private state item of one model, as stored. */
export interface StoredControllerState {
  /** Grows by one with every write; a write names the revision it read. */
  readonly revision: number;
  /** The controller's own document; it validates it with its own schema. */
  readonly state: unknown;
  readonly updatedAtMs: number;
}

export interface InvalidConfigReport {
  readonly model: string;
  readonly version: unknown;
  readonly reason: string;
}

export interface ConfigStoreOptions {
  readonly client: DocumentSender;
  readonly tableName: string;
  /** The clock for `publishedAtMs`. @default Date.now */
  readonly nowMs?: () => number;
  /**
   * Receives every stored config that fails validation; such a config is skipped, never returned.
   * @default one JSON line on stderr
   */
  readonly onInvalidConfig?: (report: InvalidConfigReport) => void;
}

const storedConfigSchema = z.object({
  [MODEL]: z.string(),
  [VERSION]: z.number().int().nonnegative(),
  config: z.unknown(),
  publishedAtMs: z.number().nonnegative(),
});

export class ConfigStore {
  private readonly client: DocumentSender;
  private readonly tableName: string;
  private readonly nowMs: () => number;
  private readonly onInvalidConfig: (report: InvalidConfigReport) => void;

  constructor(options: ConfigStoreOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.nowMs = options.nowMs ?? Date.now;
    this.onInvalidConfig = options.onInvalidConfig ?? defaultInvalidConfigListener;
  }

  /**
   * Publishes `config` as version `config.version` of `model`. Throws InputError for a config that
   * fails the schema and ConfigConflictError when the version is not newer than every version
   * already admitted, or was already published.
   */
  async publish(model: string, config: RampConfig): Promise<PublishedConfig> {
    checkModelId(model);
    const parsed = rampConfigSchema.safeParse(config);
    if (!parsed.success) {
      throw new InputError(`config for model ${model} is not valid: ${describeIssues(parsed.error.issues)}`);
    }
    const checked = parsed.data;
    const version = checked.version;
    const publishedAtMs = this.nowMs();
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { [MODEL]: model, [VERSION]: CONFIG_HEAD_VERSION },
          UpdateExpression: 'SET #latest = :version, #updatedAtMs = :now',
          ConditionExpression: 'attribute_not_exists(#latest) OR #latest <= :version',
          ExpressionAttributeNames: { '#latest': 'latestVersion', '#updatedAtMs': 'updatedAtMs' },
          ExpressionAttributeValues: { ':version': version, ':now': publishedAtMs },
        }),
      );
    } catch (error) {
      if (!isServiceError(error, CONDITIONAL_CHECK_FAILED)) throw error;
      throw new ConfigConflictError(model, version, await this.admittedVersion(model), { cause: error });
    }
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { [MODEL]: model, [VERSION]: version, config: checked, publishedAtMs },
          ConditionExpression: 'attribute_not_exists(#version)',
          ExpressionAttributeNames: { '#version': VERSION },
        }),
      );
    } catch (error) {
      if (!isServiceError(error, CONDITIONAL_CHECK_FAILED)) throw error;
      throw new ConfigConflictError(model, version, await this.admittedVersion(model), { cause: error });
    }
    return { model, config: checked, publishedAtMs };
  }

  /** The newest valid config of `model`, or undefined when it has none; invalid ones are skipped. */
  async latest(model: string): Promise<PublishedConfig | undefined> {
    const [newest] = await this.newestValid(model, 1);
    return newest;
  }

  /** Up to `limit` valid configs of `model`, newest first. */
  async history(model: string, limit: number): Promise<PublishedConfig[]> {
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_CONFIG_HISTORY) {
      throw new InputError(
        `history limit must be a whole number from 1 to ${MAX_CONFIG_HISTORY}, got ${limit}`,
      );
    }
    return this.newestValid(model, limit);
  }

  /**
   * Walks versions newest first, strongly consistent (a worker must not miss a config just
   * published; the items are small), until `count` valid configs are found or none are left.
   */
  private async newestValid(model: string, count: number): Promise<PublishedConfig[]> {
    checkModelId(model);
    const found: PublishedConfig[] = [];
    let startAfter: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#model = :model AND #version >= :first',
          ExpressionAttributeNames: { '#model': MODEL, '#version': VERSION },
          ExpressionAttributeValues: { ':model': model, ':first': 0 },
          ScanIndexForward: false,
          ConsistentRead: true,
          // A few more than needed, so one invalid item rarely costs a second round trip.
          Limit: Math.min(count + 4, 100),
          ExclusiveStartKey: startAfter,
        }),
      );
      for (const item of page.Items ?? []) {
        const config = this.validate(model, item);
        if (config !== undefined) found.push(config);
        if (found.length === count) return found;
      }
      startAfter = page.LastEvaluatedKey;
    } while (startAfter !== undefined);
    return found;
  }

  private validate(model: string, item: Record<string, unknown>): PublishedConfig | undefined {
    const stored = storedConfigSchema.safeParse(item);
    if (!stored.success) {
      this.onInvalidConfig({ model, version: item[VERSION], reason: describeIssues(stored.error.issues) });
      return undefined;
    }
    const config = rampConfigSchema.safeParse(stored.data.config);
    if (!config.success) {
      this.onInvalidConfig({
        model,
        version: stored.data[VERSION],
        reason: describeIssues(
          config.error.issues.map((issue) => ({ ...issue, path: ['config', ...issue.path] })),
        ),
      });
      return undefined;
    }
    if (config.data.version !== stored.data[VERSION]) {
      this.onInvalidConfig({
        model,
        version: stored.data[VERSION],
        reason: `config.version ${config.data.version} differs from the item's version`,
      });
      return undefined;
    }
    return { model, config: config.data, publishedAtMs: stored.data.publishedAtMs };
  }

  /**
   * The scheduled controller's state item of `model` (strongly consistent), or undefined when it
   * has none yet. A Lambda keeps nothing between runs, so what the controller must remember (how
   * far it has read the exit logs, its tuning headroom, utility histories) lives here, beside the
   * configs it publishes, under a sort key no config version can take.
   */
  async controllerState(model: string): Promise<StoredControllerState | undefined> {
    checkModelId(model);
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { [MODEL]: model, [VERSION]: CONTROLLER_STATE_VERSION },
        ConsistentRead: true,
      }),
    );
    if (Item === undefined) return undefined;
    const parsed = storedStateSchema.safeParse(Item);
    if (!parsed.success) {
      throw new ArtifactError(
        `controller state of model ${model} is not valid: ${describeIssues(parsed.error.issues)}`,
      );
    }
    return parsed.data;
  }

  /**
   * Writes the controller's state item if nobody wrote it since `expectedRevision` was read
   * (undefined: only if there is none yet), so of two controller runs that read the same state
   * exactly one may act on it. Returns whether this write won; a lost race is not an error.
   */
  async putControllerState(
    model: string,
    state: Record<string, unknown>,
    expectedRevision: number | undefined,
  ): Promise<boolean> {
    checkModelId(model);
    if (
      expectedRevision !== undefined &&
      !(Number.isSafeInteger(expectedRevision) && expectedRevision >= 0)
    ) {
      throw new InputError(`expectedRevision must be a non-negative whole number, got ${expectedRevision}`);
    }
    const revision = expectedRevision === undefined ? 0 : expectedRevision + 1;
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            [MODEL]: model,
            [VERSION]: CONTROLLER_STATE_VERSION,
            revision,
            state,
            updatedAtMs: this.nowMs(),
          },
          ConditionExpression:
            expectedRevision === undefined ? 'attribute_not_exists(#version)' : '#revision = :expected',
          ExpressionAttributeNames:
            expectedRevision === undefined ? { '#version': VERSION } : { '#revision': 'revision' },
          ...(expectedRevision === undefined
            ? {}
            : { ExpressionAttributeValues: { ':expected': expectedRevision } }),
        }),
      );
      return true;
    } catch (error) {
      if (isServiceError(error, CONDITIONAL_CHECK_FAILED)) return false;
      throw error;
    }
  }

  /** The head's admitted version, for the conflict message; undefined if it cannot be read. */
  private async admittedVersion(model: string): Promise<number | undefined> {
    try {
      const { Item } = await this.client.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { [MODEL]: model, [VERSION]: CONFIG_HEAD_VERSION },
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

const storedStateSchema = z.object({
  revision: z.number().int().nonnegative(),
  state: z.unknown(),
  updatedAtMs: z.number().nonnegative(),
});

function defaultInvalidConfigListener(report: InvalidConfigReport): void {
  process.stderr.write(
    `${JSON.stringify({ level: 'warn', message: 'invalid stored config skipped', ...report })}\n`,
  );
}
