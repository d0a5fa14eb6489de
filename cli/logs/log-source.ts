/**
 * Which tables `apparate logs` reads, and through which client: a deployment on AWS (the SDK's
 * own credentials and region, tables named by the stack's prefix), a DynamoDB endpoint given
 * outright, or the local stack: the running one found through its stack file, or, when none runs,
 * its dynalite files opened directly, so the logs of a stopped stack can still be read.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { documentClientFor, type DocumentSender, tableNames, type TableNames } from '../../adapters/dynamo';
import { localDynamoClient, startDynalite } from '../../adapters/dynalite';
import { InputError } from '../../core/errors';
import { LOCAL_PREFIX } from '../stack/local-stack';
import { readStackFile } from '../stack/stack-file';

export interface LogSourceFlags {
  readonly aws?: boolean;
  readonly endpoint?: string;
  readonly tablePrefix?: string;
  /** The local stack's data folder. */
  readonly dataDir: string;
}

export interface LogSource {
  readonly doc: DocumentSender;
  readonly tables: TableNames;
  /** Where the tables are, for messages. */
  readonly description: string;
  /** The stack's accuracy constraint, when the source knows it. */
  readonly accuracyConstraint?: number;
  close(): Promise<void>;
}

/** Opens the source the flags name; throws InputError saying how to name one when none is found. */
export async function openLogSource(flags: LogSourceFlags): Promise<LogSource> {
  if (flags.aws === true) {
    if (flags.tablePrefix === undefined) {
      throw new InputError(
        '--aws needs --table-prefix <prefix>, the tablePrefix the deployment was created with',
      );
    }
    const client = new DynamoDBClient(flags.endpoint === undefined ? {} : { endpoint: flags.endpoint });
    return clientSource(client, flags.tablePrefix, `DynamoDB (tables ${flags.tablePrefix}-*)`);
  }
  if (flags.endpoint !== undefined) {
    const prefix = flags.tablePrefix ?? LOCAL_PREFIX;
    return clientSource(localDynamoClient(flags.endpoint), prefix, `${flags.endpoint} (tables ${prefix}-*)`);
  }
  const stack = readStackFile(flags.dataDir);
  if (stack !== undefined && isRunning(stack.pid)) {
    const prefix = flags.tablePrefix ?? stack.tablePrefix;
    return {
      ...clientSource(
        localDynamoClient(stack.dynamoEndpoint),
        prefix,
        `the local stack at ${stack.url} (dynalite ${stack.dynamoEndpoint}, tables ${prefix}-*)`,
      ),
      accuracyConstraint: stack.accuracyConstraint,
    };
  }
  const files = join(flags.dataDir, 'dynamo');
  if (existsSync(files)) {
    const server = await startDynalite({ path: files }).catch((error: unknown) => {
      throw new InputError(
        `no local stack is running and its tables in ${files} cannot be opened (${(error as Error).message}); start it with npm start, or pass --endpoint <url>`,
      );
    });
    const prefix = flags.tablePrefix ?? LOCAL_PREFIX;
    const source = clientSource(
      localDynamoClient(server.endpoint),
      prefix,
      `the stopped local stack's tables in ${files}`,
    );
    return {
      ...source,
      close: async () => {
        await source.close();
        await server.close();
      },
    };
  }
  throw new InputError(
    `no local stack found in ${flags.dataDir} (start one with npm start); or pass --endpoint <url> for a DynamoDB endpoint, or --aws --table-prefix <prefix> for a deployment`,
  );
}

/** Whether a process lives (a stack killed without cleaning up leaves its file behind). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function clientSource(client: DynamoDBClient, prefix: string, description: string): LogSource {
  return {
    doc: documentClientFor(client),
    tables: tableNames(prefix),
    description,
    close: () => {
      client.destroy();
      return Promise.resolve();
    },
  };
}
