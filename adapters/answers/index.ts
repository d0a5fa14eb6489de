/**
 * Answer channels: how a worker's early and final answers reach the front door that waits for
 * them, in process or over Redis pub/sub. Other modules import them only from here.
 */
export * from './answer-channel';
export * from './memory-answer-channel';
export * from './redis-answer-channel';
