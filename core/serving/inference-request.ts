/**
 * The inference request as the ingest side queues it and the worker receives it, on every
 * transport. The model's own input schema checks `input` later, in the worker.
 */
import { z } from 'zod';
import { requestIdSchema } from './answers';

export const inferenceRequestSchema = z.object({
  requestId: requestIdSchema,
  model: z.string().min(1),
  enqueuedAtMs: z.number(),
  deadlineMs: z.number(),
  input: z.unknown(),
  mode: z.enum(['sync', 'async']),
});
export type InferenceRequest = z.infer<typeof inferenceRequestSchema>;
