/**
 * The result-notification channel: how a worker's release wakes the request waiting for it. The
 * results table (or Redis hash) stays the durable record that GET, idempotency keys and recovery
 * read; this channel only carries each answer to whoever waits for it, as fast as the transport
 * allows, so a synchronous or streaming request never has to poll for it. One interface, one
 * implementation per transport: in-process (the embedded default: the worker's release calls the
 * waiter directly) and Redis pub/sub (BullMQ deployments). On AWS there is none: the ingest Lambda
 * reads the table with an adaptive interval instead (`functions/api/await-answer.ts`).
 *
 * Delivery is only to subscribers present at publication, which is why waiters subscribe before
 * their request is queued. Where delivery is at most once (pub/sub), waiters still read the durable
 * record now and then in case an answer was lost; where it cannot be lost (`lossless`), they read
 * it only at their deadline.
 */
import { z } from 'zod';
import {
  answerErrorSchema,
  earlyAnswerSchema,
  finalAnswerSchema,
  MAX_ERROR_MESSAGE_LENGTH,
  requestIdSchema,
} from '../../core/serving/answers';

/**
 * An answer on its way to the request waiting for it: the worker's answer (core/serving/answers.ts)
 * with the request id, less the class index, which no response shows.
 */
export const answerEventSchema = z.discriminatedUnion('kind', [
  earlyAnswerSchema
    .omit({ classIndex: true })
    .extend({ kind: z.literal('early'), requestId: requestIdSchema }),
  finalAnswerSchema
    .omit({ classIndex: true })
    .extend({ kind: z.literal('final'), requestId: requestIdSchema }),
  answerErrorSchema.extend({
    kind: z.literal('error'),
    requestId: requestIdSchema,
    message: answerErrorSchema.shape.message.max(MAX_ERROR_MESSAGE_LENGTH),
  }),
]);
export type AnswerEvent = z.infer<typeof answerEventSchema>;

export type AnswerListener = (event: AnswerEvent) => void;

/** Ends a subscription; calling it twice is harmless. */
export type Unsubscribe = () => void;

export interface AnswerChannel {
  readonly kind: 'memory' | 'redis';
  /**
   * Whether every answer published reaches every subscriber present, so a waiter needs no
   * periodic read of the durable record (in-process: the listener is called inside the release).
   * False where the transport may drop one (pub/sub loses messages across a reconnect).
   */
  readonly lossless: boolean;
  /** Hands an answer to the request's subscribers, if any; never throws for want of them. */
  publish(event: AnswerEvent): Promise<void>;
  /**
   * Listens for one request's answers. Resolves once the subscription is live, so that an answer
   * published after it resolves is delivered.
   */
  subscribe(requestId: string, listener: AnswerListener): Promise<Unsubscribe>;
  close(): Promise<void>;
}
