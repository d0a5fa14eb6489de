import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { InputError } from '../../../core/errors';
import { createTables, TABLE_DESIGNS, tableNames, type TableRole } from '../../../adapters/dynamo/tables';
import { startLocalDynamo, type LocalDynamo } from './local-dynamo';

let local: LocalDynamo;

beforeAll(async () => {
  local = await startLocalDynamo();
});

afterAll(async () => {
  await local.close();
});

describe('tables', () => {
  it('names the three tables from one prefix', () => {
    // When names are derived from a deployment's prefix, then each is the prefix plus its role
    expect(tableNames('apparate-dev')).toEqual({
      results: 'apparate-dev-results',
      exitLogs: 'apparate-dev-exit-logs',
      configs: 'apparate-dev-configs',
    });
  });

  it('refuses a prefix DynamoDB would refuse in a table name', () => {
    // When the prefix has a space, is empty or is too long, then it is refused up front
    expect(() => tableNames('my tables')).toThrow(InputError);
    expect(() => tableNames('')).toThrow(InputError);
    expect(() => tableNames('x'.repeat(250))).toThrow(InputError);
  });

  it('creates on-demand tables with the exported key design, and is idempotent', async () => {
    // Given a fresh prefix
    const names = tableNames(`tables-${process.pid}`);

    // When the tables are created twice
    const first = await createTables(local.client, names);
    const second = await createTables(local.client, names);

    // Then the first call creates all three, the second finds them, and dynalite's missing TTL API
    // is reported rather than fatal
    expect(first.created).toEqual([names.results, names.exitLogs, names.configs]);
    expect(second).toEqual({
      created: [],
      existing: [names.results, names.exitLogs, names.configs],
      ttlUnsupported: [names.results, names.exitLogs],
    });
    for (const role of Object.keys(TABLE_DESIGNS) as TableRole[]) {
      const design = TABLE_DESIGNS[role];
      const { Table } = await local.client.send(new DescribeTableCommand({ TableName: names[role] }));
      const expectedKeys: { AttributeName: string; KeyType: string }[] = [
        { AttributeName: design.partitionKey.name, KeyType: 'HASH' },
      ];
      if ('sortKey' in design) expectedKeys.push({ AttributeName: design.sortKey.name, KeyType: 'RANGE' });
      expect(Table?.KeySchema).toEqual(expectedKeys);
      expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
      expect(Table?.TableStatus).toBe('ACTIVE');
    }
  });
});
