/**
 * dynalite, a DynamoDB implementation in Node, as the local stack and the tests start it: in
 * memory for tests, on disk for `npm start` so results and configs survive a restart. The same
 * stores then run against it and against DynamoDB, with only the endpoint differing.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';

interface DynaliteOptions {
  readonly path?: string;
  readonly createTableMs?: number;
  readonly deleteTableMs?: number;
  readonly updateTableMs?: number;
}

// dynalite ships no type declarations; typing the one function used here keeps that local instead
// of declaring the module for the whole project.
const dynalite = createRequire(__filename)('dynalite') as (options: DynaliteOptions) => Server;

export interface DynaliteServer {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  close(): Promise<void>;
}

export interface DynaliteServerOptions {
  /** Directory for the data; in memory when absent. */
  readonly path?: string;
  /** @default 0 (any free port) */
  readonly port?: number;
}

/** Starts dynalite with table changes taking effect at once (no CREATING delay to wait out). */
export async function startDynalite(options: DynaliteServerOptions = {}): Promise<DynaliteServer> {
  const server = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(options.path === undefined ? {} : { path: options.path }),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}

/**
 * A client for a local endpoint. dynalite accepts any credentials, but the SDK insists on some, so
 * fixed local ones are used unless the environment provides real ones. With the local ones the
 * requests are not signed either: dynalite checks only that an Authorization header of the SigV4
 * form is present, never the signature, and computing one (two HMAC chains and a hash of the body
 * per request) is a visible share of the local stack's CPU per request. Real credentials (for
 * DynamoDB Local or a real endpoint) keep SigV4.
 */
export function localDynamoClient(endpoint: string): DynamoDBClient {
  const region = process.env['AWS_REGION'] ?? 'us-east-1';
  if (process.env['AWS_ACCESS_KEY_ID']) return new DynamoDBClient({ endpoint, region });
  return new DynamoDBClient({
    endpoint,
    region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    signer: { sign: (request) => Promise.resolve(withLocalAuthorization(request, region)) },
  });
}

/** The SigV4-shaped headers dynalite checks for, with no signature computed. */
function withLocalAuthorization<T extends { headers: Record<string, string> }>(
  request: T,
  region: string,
): T {
  const amzDate = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
  request.headers['x-amz-date'] = amzDate;
  request.headers['authorization'] =
    `AWS4-HMAC-SHA256 Credential=local/${amzDate.slice(0, 8)}/${region}/dynamodb/aws4_request, ` +
    'SignedHeaders=host;x-amz-date, Signature=unsigned';
  return request;
}
