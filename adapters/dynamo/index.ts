/**
 * The DynamoDB adapters (results, exit logs, configs, fleet plans) and the table design they share. The same
 * code runs against DynamoDB and dynalite; callers inject the client.
 */
export * from './tables';
export * from './dynamo-client';
export * from './result-store';
export * from './exit-log-writer';
export * from './exit-log-reader';
export * from './config-store';
export * from './exit-log-format';
export * from './versioned-documents';
export * from './plan-store';
export * from './batched-settles';
export * from './batched-reads';
