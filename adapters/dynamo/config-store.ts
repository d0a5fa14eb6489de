/**
 * Versioned ramp configs per model: the controller publishes, every worker polls `latest`.
 *
 * Key design: partition key `model`, sort key `version` (a number). The versions, the head item at
 * version -1 and the two conditional writes of a publish are `versioned-documents.ts`, which the
 * fleet plans share. Two publishers of different versions that both pass the head's check both
 * win; the higher one is what `latest` returns either way, and workers apply only versions newer
 * than their own, so no worker ever goes back.
 *
 * The same partition holds one more item, at version -2: the scheduled controller's own state
 * (`controllerState`), written with a revision check so that concurrent runs cannot both act.
 *
 * A losing publisher gets a ConfigConflictError (not a `false`), since the controller should log
 * why its config was not published and carry on with the newer one. Configs never expire.
 */
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { ArtifactError, describeIssues, InputError } from '../../core/errors';
import { rampConfigSchema, type RampConfig } from '../../core/control/ramp-config';
import { CONDITIONAL_CHECK_FAILED, isServiceError, type DocumentSender } from './dynamo-client';
import { checkModelId, CONFIGS_TABLE } from './tables';
import {
  checkHistoryLimit,
  CONFIG_HEAD_VERSION,
  MAX_HISTORY,
  VersionConflictError,
  VersionedDocuments,
} from './versioned-documents';

export { CONFIG_HEAD_VERSION };
/**
 * The sort key of each model's controller-state item (see `controllerState`): below the head and
 * every config version, so no config read, which asks for versions >= 0, can ever return it.
 */
export const CONTROLLER_STATE_VERSION = -2;
/** `history` returns at most this many configs per call. */
export const MAX_CONFIG_HISTORY = MAX_HISTORY;

const MODEL = CONFIGS_TABLE.partitionKey.name;
const VERSION = CONFIGS_TABLE.sortKey.name;

/** The publish lost: its version is not above the newest admitted one, or was published already. */
export class ConfigConflictError extends VersionConflictError {
  override readonly name = 'ConfigConflictError';
  constructor(
    readonly model: string,
    version: number,
    latestVersion: number | undefined,
    options?: { cause?: unknown },
  ) {
    super('config', `model ${model}`, version, latestVersion, options);
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

export class ConfigStore {
  private readonly client: DocumentSender;
  private readonly tableName: string;
  private readonly nowMs: () => number;
  private readonly versions: VersionedDocuments<RampConfig>;

  constructor(options: ConfigStoreOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.nowMs = options.nowMs ?? Date.now;
    const onInvalidConfig = options.onInvalidConfig ?? defaultInvalidConfigListener;
    this.versions = new VersionedDocuments<RampConfig>({
      client: options.client,
      tableName: options.tableName,
      attribute: 'config',
      schema: rampConfigSchema,
      versionOf: (config) => config.version,
      conflict: (model, version, latestVersion, cause) =>
        new ConfigConflictError(model, version, latestVersion, { cause }),
      onInvalid: ({ partition, version, reason }) => onInvalidConfig({ model: partition, version, reason }),
      nowMs: this.nowMs,
    });
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
    const published = await this.versions.publish(model, parsed.data);
    return { model, config: published.document, publishedAtMs: published.publishedAtMs };
  }

  /** The newest valid config of `model`, or undefined when it has none; invalid ones are skipped. */
  async latest(model: string): Promise<PublishedConfig | undefined> {
    const [newest] = await this.newestValid(model, 1);
    return newest;
  }

  /** Up to `limit` valid configs of `model`, newest first. */
  async history(model: string, limit: number): Promise<PublishedConfig[]> {
    checkHistoryLimit(limit);
    return this.newestValid(model, limit);
  }

  private async newestValid(model: string, count: number): Promise<PublishedConfig[]> {
    checkModelId(model);
    const found = await this.versions.newestValid(model, count);
    return found.map(({ document, publishedAtMs }) => ({ model, config: document, publishedAtMs }));
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
