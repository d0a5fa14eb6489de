/**
 * A real DynamoDB implementation for the tests: dynalite, in memory, on a random port, one per test
 * file; each test gets its own tables under a unique prefix so tests never see each other's items.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { documentClientFor } from '../../../adapters/dynamo/dynamo-client';
import { createTables, tableNames, type TableNames } from '../../../adapters/dynamo/tables';

interface DynaliteOptions {
  readonly path?: string;
  readonly createTableMs?: number;
  readonly deleteTableMs?: number;
  readonly updateTableMs?: number;
}

// dynalite ships no type declarations; typing the one function used here keeps that local to the
// tests instead of declaring the module for the whole project.
const dynalite = createRequire(__filename)('dynalite') as (options: DynaliteOptions) => Server;

export interface LocalDynamo {
  readonly client: DynamoDBClient;
  readonly doc: DynamoDBDocumentClient;
  /** Creates a fresh set of tables under a prefix no other test uses. */
  freshTables(): Promise<TableNames>;
  close(): Promise<void>;
}

let prefixes = 0;

export async function startLocalDynamo(): Promise<LocalDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const client = new DynamoDBClient({
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const doc = documentClientFor(client);
  return {
    client,
    doc,
    freshTables: async () => {
      prefixes += 1;
      const names = tableNames(`test${process.pid}-${prefixes}-${Math.random().toString(36).slice(2, 8)}`);
      await createTables(client, names);
      return names;
    },
    close: async () => {
      client.destroy();
      await new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
    },
  };
}
