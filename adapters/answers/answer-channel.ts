/**
 * The result-notification channel: how a worker's release wakes the request waiting for it. The
 * results table (or Redis hash) stays the durable record that GET, idempotency keys and recovery
 * read; this channel only carries each answer to whoever waits for it, as fast as the transport
 * allows, so a synchronous or streaming request never has to poll for it. One interface, one
 * implementation per transport: in-process (the embedded default: the worker's release calls the
 * waiter directly) and Redis pub/sub (BullMQ deployments). On AWS there is none: the ingest Lambda
 * reads the table with an adaptive interval instead (`functions/api/await-answer.ts`).
 *
 * Delivery is at most once and only to subscribers present at publication, which is why waiters
 * subscribe before their request is queued and still fall back to the durable record.
 */
import { z } from 'zod';

const requestIdSchema = z.string().min(1).max(128);
const labelSchema = z.string().min(1).max(256);
const unitSchema = z.number().min(0).max(1);
const msSchema = z.number().nonnegative().finite();

export const answerEventSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('early'),
    requestId: requestIdSchema,
    model: z.string().min(1),
    label: labelSchema,
    confidence: unitSchema,
    /** The ramp the input exited at. */
    exit: z.string().min(1).max(128),
    /** Enqueue to release, on the worker's clock, ms. */
    latencyMs: msSchema,
    configVersion: z.number().int().nonnegative(),
    /** Epoch ms of the release. */
    releasedAtMs: msSchema,
  }),
  z.object({
    kind: z.literal('final'),
    requestId: requestIdSchema,
    model: z.string().min(1),
    label: labelSchema,
    confidence: unitSchema,
    latencyMs: msSchema,
    configVersion: z.number().int().nonnegative(),
    /** Whether the early answer equalled this one; absent when the input exited nowhere. */
    agreesWithEarly: z.boolean().optional(),
    releasedAtMs: msSchema,
  }),
  z.object({
    kind: z.literal('error'),
    requestId: requestIdSchema,
    code: z.string().min(1).max(64),
    message: z.string().max(1024),
  }),
]);
export type AnswerEvent = z.infer<typeof answerEventSchema>;

export type AnswerListener = (event: AnswerEvent) => void;

/** Ends a subscription; calling it twice is harmless. */
export type Unsubscribe = () => void;

export interface AnswerChannel {
  readonly kind: 'memory' | 'redis';
  /** Hands an answer to the request's subscribers, if any; never throws for want of them. */
  publish(event: AnswerEvent): Promise<void>;
  /**
   * Listens for one request's answers. Resolves once the subscription is live, so that an answer
   * published after it resolves is delivered.
   */
  subscribe(requestId: string, listener: AnswerListener): Promise<Unsubscribe>;
  close(): Promise<void>;
}
