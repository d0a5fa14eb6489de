/** Redis adapters: the BullMQ request queue and the result store kept beside it. */
export * from './bullmq-queue';
export * from './redis-result-store';
export * from './redis-url';
