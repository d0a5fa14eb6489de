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
