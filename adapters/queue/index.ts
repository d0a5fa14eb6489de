/**
 * The request-queue contract every queue adapter implements, the in-process queue, and the message
 * encoding the adapters share. Other modules import queues only from here (or from the
 * technology's own entry: `adapters/redis`, `adapters/sqs`), never from a file inside.
 */
export * from './request-queue';
export * from './delivery-options';
export * from './message-body';
export * from './memory-queue';
