/**
 * A real DynamoDB implementation for the tests: dynalite, in memory, on a random port, one per test
 * file; each test gets its own tables under a unique prefix so tests never see each other's items.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { documentClientFor } from '../../../adapters/dynamo/dynamo-client';
import { localDynamoClient, startDynalite } from '../../../adapters/dynalite/dynalite-server';
import { createTables, tableNames, type TableNames } from '../../../adapters/dynamo/tables';

export interface LocalDynamo {
  readonly client: DynamoDBClient;
  readonly doc: DynamoDBDocumentClient;
  /** `http://127.0.0.1:<port>`, for processes started by a test. */
  readonly endpoint: string;
  /** Creates a fresh set of tables under a prefix no other test uses. */
  freshTables(): Promise<TableNames>;
  close(): Promise<void>;
}

let prefixes = 0;

export async function startLocalDynamo(): Promise<LocalDynamo> {
  const server = await startDynalite();
  const client = localDynamoClient(server.endpoint);
  const doc = documentClientFor(client);
  return {
    client,
    doc,
    endpoint: server.endpoint,
    freshTables: async () => {
      prefixes += 1;
      const names = tableNames(`test${process.pid}-${prefixes}-${Math.random().toString(36).slice(2, 8)}`);
      await createTables(client, names);
      return names;
    },
    close: async () => {
      client.destroy();
      await server.close();
    },
  };
}

/** What `useLocalDynamo` hands a test: read its fields inside tests and hooks, never at load. */
export interface LocalDynamoSetup {
  readonly local: LocalDynamo;
  /** This test's own tables. */
  readonly tables: TableNames;
}

/**
 * The lifecycle the table tests share, registered in one call: dynalite once per file, closed when
 * the file ends, and fresh tables for every test. A file's own `beforeEach` hooks, registered after
 * this call, run after the tables exist.
 */
export function useLocalDynamo(): LocalDynamoSetup {
  let local: LocalDynamo | undefined;
  let tables: TableNames | undefined;
  const started = (): LocalDynamo => {
    if (local === undefined) throw new Error('dynalite is read before beforeAll ran');
    return local;
  };
  beforeAll(async () => {
    local = await startLocalDynamo();
  });
  afterAll(async () => {
    await local?.close();
  });
  beforeEach(async () => {
    tables = await started().freshTables();
  });
  return {
    get local() {
      return started();
    },
    get tables() {
      if (tables === undefined) throw new Error('the tables are read outside a test');
      return tables;
    },
  };
}
