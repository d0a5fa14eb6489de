/**
 * One place that turns a queue choice from configuration into a queue, so the worker, the ingest
 * side and the local server accept the same kinds and refuse the same mistakes.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import { InputError } from '../core/errors';
import { BullMqRequestQueue } from './redis';
import {
  type DeliveryOptions,
  MemoryRequestQueue,
  QUEUE_KINDS,
  type QueueErrorListener,
  type QueueKind,
  type RequestQueue,
} from './queue';
import { SqsRequestQueue } from './sqs';

export interface QueueSelection extends DeliveryOptions {
  readonly kind: QueueKind;
  /** The queue's name: BullMQ's queue name, a label for the in-process queue; SQS goes by URL. */
  readonly name: string;
  /** BullMQ only. @default process.env.REDIS_URL, else redis://127.0.0.1:6379 */
  readonly redisUrl?: string;
  /**
   * SQS only, and required there. The receive limit is the redrive policy's `maxReceiveCount` on
   * AWS, so `maxReceives` is not used for SQS.
   */
  readonly sqs?: {
    readonly queueUrl: string;
    readonly deadLetterQueueUrl: string;
    readonly client?: SQSClient;
  };
  /** Errors the networked queues handle themselves. @default one JSON line on stderr */
  readonly onError?: QueueErrorListener;
}

/**
 * Builds the selected queue. An unknown kind (from untyped configuration) or an SQS selection
 * without its URLs is an InputError saying what is allowed.
 */
export function createRequestQueue(selection: QueueSelection): RequestQueue {
  const { kind, name, visibilityTimeoutMs, maxReceives, onError } = selection;
  switch (kind) {
    case 'memory':
      return new MemoryRequestQueue({ name, visibilityTimeoutMs, maxReceives });
    case 'bullmq':
      return new BullMqRequestQueue({
        name,
        redisUrl: selection.redisUrl,
        visibilityTimeoutMs,
        maxReceives,
        onError,
      });
    case 'sqs':
      if (selection.sqs === undefined) {
        throw new InputError('queue kind sqs needs sqs.queueUrl and sqs.deadLetterQueueUrl');
      }
      return new SqsRequestQueue({ ...selection.sqs, visibilityTimeoutMs, onError });
    default:
      throw new InputError(
        `queue kind ${JSON.stringify((selection as { kind: unknown }).kind)} is not one of ${QUEUE_KINDS.join(', ')}`,
      );
  }
}
