/**
 * What the DynamoDB stores need from the SDK, kept to one method so that the same store runs
 * against DynamoDB, against dynalite, and through a thin test wrapper around either. The stores
 * speak native JavaScript values through the document client; they build every item themselves
 * without `undefined` fields, so they do not depend on how the caller configured marshalling beyond
 * numbers coming back as numbers (the default).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** The one method the stores call; a `DynamoDBDocumentClient` satisfies it. */
export type DocumentSender = Pick<DynamoDBDocumentClient, 'send'>;

/**
 * The document client the stores expect, over a caller's configured low-level client (which the
 * caller keeps and destroys). `removeUndefinedValues` guards callers who add optional fields.
 */
export function documentClientFor(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

/**
 * Whether an SDK rejection is the service error named `name`. The SDK sets `name` to the
 * service's error type, which is the stable way to tell a lost conditional write from a failure.
 */
export function isServiceError(error: unknown, name: string): boolean {
  return error instanceof Error && error.name === name;
}

export const CONDITIONAL_CHECK_FAILED = 'ConditionalCheckFailedException';

/** Where a component reports errors it handles itself instead of throwing them to its caller. */
export type DynamoErrorListener = (error: Error) => void;

/**
 * The listener used when a caller gives none: one structured JSON line on stderr with a fixed
 * message, so a handled error is never silent.
 */
export function defaultErrorListener(component: string): DynamoErrorListener {
  return (error) => {
    process.stderr.write(
      `${JSON.stringify({ level: 'error', message: 'dynamo adapter error', component, error: error.message })}\n`,
    );
  };
}
