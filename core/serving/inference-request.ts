/**
 * The inference request as the ingest side queues it and the worker receives it, on every
 * transport. The model's own input schema checks `input` later, in the worker.
 */
import { z } from 'zod';
import { renamedKey } from '../util/renamed-key';
import { requestIdSchema } from './answers';

/**
 * A front door of an earlier version queued the due time as `deadlineMs`; during an upgrade its
 * messages may still wait in the queue, so that name is read as `deadlineAtMs`.
 */
export const inferenceRequestSchema = z.preprocess(
  renamedKey('deadlineMs', 'deadlineAtMs'),
  z.object({
    requestId: requestIdSchema,
    model: z.string().min(1),
    /** When the front door queued the request, epoch ms. */
    enqueuedAtMs: z.number(),
    /** When the answer is due, epoch ms (the API's `deadlineMs` is a duration from receipt). */
    deadlineAtMs: z.number(),
    input: z.unknown(),
    mode: z.enum(['sync', 'async']),
  }),
);
export type InferenceRequest = z.infer<typeof inferenceRequestSchema>;
