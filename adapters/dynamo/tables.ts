/**
 * The three tables' names and key design, in one place, so that the CDK stack, local start-up and
 * the stores agree by construction rather than by copying strings. `docs/data-model.md` explains
 * every attribute and access pattern; this file is the part of it that code needs.
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  UpdateTimeToLiveCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { InputError } from '../../core/errors';
import { isServiceError } from './dynamo-client';
import { modelIdSchema } from '../../core/serving/answers';

/** A key attribute as DynamoDB (and CDK's `AttributeType`) spells it. */
export interface KeyAttribute {
  readonly name: string;
  readonly type: 'S' | 'N';
}

export interface TableDesign {
  /** The table is named `<prefix>-<suffix>`. */
  readonly suffix: string;
  readonly partitionKey: KeyAttribute;
  readonly sortKey?: KeyAttribute;
  /** Epoch-seconds attribute DynamoDB's TTL deletes by; absent where items must live forever. */
  readonly ttlAttribute?: string;
}

/** Every item that expires carries its expiry here, in epoch seconds, as DynamoDB TTL requires. */
export const TTL_ATTRIBUTE = 'expiresAt';

/** One item per request id: the early answer, the final one beside it, or an error. */
export const RESULTS_TABLE = {
  suffix: 'results',
  partitionKey: { name: 'requestId', type: 'S' },
  ttlAttribute: TTL_ATTRIBUTE,
} as const satisfies TableDesign;

/**
 * One item per logged batch (or per part of a large one). `pk` is `<model>#<minute>#<shard>` and
 * `sk` is `<startedAtMs, 15 digits>#<batchId>#<part, 4 digits>`; see exit-log-format.ts.
 */
export const EXIT_LOGS_TABLE = {
  suffix: 'exit-logs',
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  ttlAttribute: TTL_ATTRIBUTE,
} as const satisfies TableDesign;

/**
 * One item per published config version per model, plus one head item per model at version -1
 * that admits versions in increasing order. Configs never expire: the newest must always be there.
 */
export const CONFIGS_TABLE = {
  suffix: 'configs',
  partitionKey: { name: 'model', type: 'S' },
  sortKey: { name: 'version', type: 'N' },
} as const satisfies TableDesign;

export const TABLE_DESIGNS = {
  results: RESULTS_TABLE,
  exitLogs: EXIT_LOGS_TABLE,
  configs: CONFIGS_TABLE,
} as const satisfies Record<string, TableDesign>;

export type TableRole = keyof typeof TABLE_DESIGNS;
export type TableNames = { readonly [role in TableRole]: string };

const TABLE_ROLES = Object.keys(TABLE_DESIGNS) as TableRole[];
const LONGEST_SUFFIX = Math.max(...TABLE_ROLES.map((role) => TABLE_DESIGNS[role].suffix.length));
/** DynamoDB table names: 3–255 characters of letters, digits, `_`, `-` and `.`. */
const MAX_PREFIX_LENGTH = 255 - LONGEST_SUFFIX - 1;

export { modelIdSchema };

/** Checks a model id at a store's edge, so a bad one fails with what is allowed, not a service error. */
export function checkModelId(model: unknown): string {
  const parsed = modelIdSchema.safeParse(model);
  if (!parsed.success) {
    throw new InputError(`model id must be a string of 1 to 256 characters, got ${JSON.stringify(model)}`);
  }
  return parsed.data;
}

/** The table names of one deployment (or one test): `<prefix>-results` and so on. */
export function tableNames(prefix: string): TableNames {
  if (!/^[A-Za-z0-9_.-]+$/.test(prefix) || prefix.length > MAX_PREFIX_LENGTH) {
    throw new InputError(
      `table prefix must be 1 to ${MAX_PREFIX_LENGTH} letters, digits, '_', '-' or '.', got ${JSON.stringify(prefix)}`,
    );
  }
  return {
    results: `${prefix}-${RESULTS_TABLE.suffix}`,
    exitLogs: `${prefix}-${EXIT_LOGS_TABLE.suffix}`,
    configs: `${prefix}-${CONFIGS_TABLE.suffix}`,
  };
}

export interface CreateTablesOptions {
  /** How long to wait for each table to become ACTIVE. @default 120000 (2 min) */
  readonly activeTimeoutMs?: number;
}

export interface CreateTablesReport {
  /** Tables this call created. */
  readonly created: string[];
  /** Tables that were already there (left as they are). */
  readonly existing: string[];
  /** Tables whose TTL could not be switched on because the endpoint lacks the API (dynalite). */
  readonly ttlUnsupported: string[];
}

/**
 * Creates the tables for local use and tests (on AWS the CDK stack owns them), on-demand billed,
 * and switches TTL on where the endpoint supports it. Idempotent: existing tables are kept, so a
 * local server can call it on every start against its on-disk dynalite.
 */
export async function createTables(
  client: DynamoDBClient,
  names: TableNames,
  options: CreateTablesOptions = {},
): Promise<CreateTablesReport> {
  const activeTimeoutMs = options.activeTimeoutMs ?? 120_000;
  const report: CreateTablesReport = { created: [], existing: [], ttlUnsupported: [] };
  for (const role of TABLE_ROLES) {
    const design: TableDesign = TABLE_DESIGNS[role];
    const tableName = names[role];
    const keys = design.sortKey === undefined ? [design.partitionKey] : [design.partitionKey, design.sortKey];
    try {
      await client.send(
        new CreateTableCommand({
          TableName: tableName,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: keys.map((key) => ({ AttributeName: key.name, AttributeType: key.type })),
          KeySchema: keys.map((key, index) => ({
            AttributeName: key.name,
            KeyType: index === 0 ? 'HASH' : 'RANGE',
          })),
        }),
      );
      report.created.push(tableName);
    } catch (error) {
      if (!isServiceError(error, 'ResourceInUseException')) throw error;
      report.existing.push(tableName);
    }
    await waitUntilActive(client, tableName, activeTimeoutMs);
    if (design.ttlAttribute !== undefined && !(await enableTtl(client, tableName, design.ttlAttribute))) {
      report.ttlUnsupported.push(tableName);
    }
  }
  return report;
}

/** Items cannot be written while a table is CREATING, so callers get tables they can use at once. */
async function waitUntilActive(client: DynamoDBClient, tableName: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delayMs = 20;
  for (;;) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.TableStatus === 'ACTIVE') return;
    if (Date.now() + delayMs > deadline) {
      throw new Error(`table ${tableName} is not ACTIVE after ${timeoutMs} ms (${Table?.TableStatus})`);
    }
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    delayMs = Math.min(delayMs * 2, 2000);
  }
}

/** Returns false where the endpoint has no TTL API; dynalite keeps expired items, and readers filter them. */
async function enableTtl(client: DynamoDBClient, tableName: string, attribute: string): Promise<boolean> {
  try {
    const { TimeToLiveDescription } = await client.send(
      new DescribeTimeToLiveCommand({ TableName: tableName }),
    );
    const status = TimeToLiveDescription?.TimeToLiveStatus;
    if (status === 'ENABLED' || status === 'ENABLING') return true;
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: attribute, Enabled: true },
      }),
    );
    return true;
  } catch (error) {
    if (isServiceError(error, 'UnknownOperationException')) return false;
    throw error;
  }
}
