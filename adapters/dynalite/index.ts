/**
 * dynalite, a DynamoDB implementation in Node, for the local stack and tests. Its own entry, so that
 * the Lambda bundles, which import `adapters/dynamo`, never carry it.
 */
export * from './dynalite-server';
