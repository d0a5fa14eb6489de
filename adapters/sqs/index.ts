/**
 * The SQS request queue (AWS SDK). Its own entry, so that a Lambda bundle that sends to SQS does not
 * carry BullMQ and Redis clients with it.
 */
export * from './sqs-queue';
