/**
 * The request queue between the ingest side and the worker, as one small interface with three
 * transports behind it (in-process, BullMQ on Redis, SQS). The worker only ever sees this file, so
 * batching and acknowledging work the same whichever transport a deployment uses.
 *
 * Delivery is at least once. A received message stays invisible to every other consumer for the
 * visibility timeout and comes back if it is neither acknowledged nor released by then, so a worker
 * killed mid-batch loses nothing. Each delivery counts as one receive; a message received
 * `maxReceives` times without being acknowledged goes to a dead-letter queue instead of being
 * delivered again, and so does a body that fails the schema below, without ever reaching a consumer.
 */
import type { InferenceRequest } from '../../core/serving/inference-request';

/** The message body on every transport: the inference request, defined in core. */
export { inferenceRequestSchema, type InferenceRequest } from '../../core/serving/inference-request';

/** The transports, as configuration names them. */
export const QUEUE_KINDS = ['memory', 'bullmq', 'sqs'] as const;
export type QueueKind = (typeof QUEUE_KINDS)[number];

export interface ReceivedMessage {
  /** Names this one delivery; a later delivery of the same request gets another. */
  readonly receipt: string;
  readonly request: InferenceRequest;
  /** How many times the message has been received, this delivery included (1 the first time). */
  readonly receiveCount: number;
}

export interface RequestQueue {
  readonly kind: QueueKind;
  /** Enqueues one request; refuses (InputError) a request the consumers would dead-letter. */
  send(request: InferenceRequest): Promise<void>;
  /**
   * Up to `max` messages, waiting at most `waitMs` for the first; received messages are invisible
   * to other consumers for the visibility timeout.
   */
  receive(max: number, waitMs: number): Promise<ReceivedMessage[]>;
  /** Removes a message for good, once its result is stored. */
  ack(message: ReceivedMessage): Promise<void>;
  /** Keep a message invisible for `ms` more, counted from now (called while its batch runs). */
  extendVisibility(message: ReceivedMessage, ms: number): Promise<void>;
  /**
   * Give it back for a retry now (e.g. its batch failed); after `maxReceives` receives it is
   * dead-lettered instead.
   */
  release(message: ReceivedMessage): Promise<void>;
  /**
   * Messages waiting to be received now (for dashboards); absent where the transport cannot
   * count them cheaply.
   */
  waiting?(): Promise<number>;
  /** Messages dead-lettered so far (for tests and metrics; SQS: read from the DLQ). */
  deadLettered(): Promise<InferenceRequest[]>;
  /** Stops waiting receives and frees connections; unacknowledged messages come back later. */
  close(): Promise<void>;
}
