/**
 * The exit log's record of one served batch, as the worker writes it and the controller, the
 * dashboard and `apparate logs` read it: per request, where it exited, when its answers were
 * released, and every active ramp's output beside the full model's prediction. The DynamoDB
 * adapter (adapters/dynamo/exit-log-format.ts) decides how it is keyed, split and stored.
 */
import { z } from 'zod';
import { modelIdSchema, requestIdSchema } from './answers';

/** The exit of a request that left at no ramp. */
export const FINAL_EXIT = 'final';
/** Latest start time the stored form handles (the end of year 9999). */
export const MAX_STARTED_AT_MS = 253_402_300_799_999;

const rampObservationSchema = z.object({
  id: z.string().min(1).max(128),
  /** The ramp's maximum softmax probability. */
  confidence: z.number().min(0).max(1),
  /** The ramp's predicted class index. */
  prediction: z.number().int().nonnegative(),
});

export const exitLogRequestSchema = z
  .object({
    requestId: requestIdSchema,
    /** The id of the ramp the request exited at, or `final`. */
    exit: z.string().min(1).max(128),
    /** From the request's arrival to its answer's release, in ms (equals finalMs when exit is `final`). */
    releasedMs: z.number().nonnegative().finite(),
    /** From the request's arrival to the full model's answer, in ms. */
    finalMs: z.number().nonnegative().finite(),
    /** Every active ramp's output for this request, shallow to deep. */
    ramps: z.array(rampObservationSchema),
    finalPrediction: z.number().int().nonnegative(),
  })
  .refine(
    (request) => request.exit === FINAL_EXIT || request.ramps.some((ramp) => ramp.id === request.exit),
    {
      message: `exit must be '${FINAL_EXIT}' or the id of one of the request's ramps`,
      path: ['exit'],
    },
  );
export type ExitLogRequest = z.infer<typeof exitLogRequestSchema>;

/**
 * What a logged batch is: a classifier's batch of inputs (the default, and what items without the
 * field are), or a generation step whose requests are token positions (`<row>#<position>`), each
 * with every ramp's confidence and top token and the full model's token at its fill.
 */
export const EXIT_LOG_KINDS = ['classify', 'generate'] as const;
export type ExitLogKind = (typeof EXIT_LOG_KINDS)[number];

export const exitLogItemSchema = z
  .object({
    model: modelIdSchema,
    kind: z.enum(EXIT_LOG_KINDS).optional(),
    /** Unique per batch across workers (a worker id plus a sequence number, say). */
    batchId: z.string().min(1).max(128),
    /** When the batch started, epoch ms. */
    startedAtMs: z.number().int().nonnegative().max(MAX_STARTED_AT_MS),
    configVersion: z.number().int().nonnegative(),
    /** Real inputs in the batch. */
    batchSize: z.number().int().positive(),
    /** The batch size it was padded to and run at. */
    paddedSize: z.number().int().positive(),
    requests: z.array(exitLogRequestSchema),
  })
  .refine((item) => item.paddedSize >= item.batchSize, {
    message: 'paddedSize must be at least batchSize',
    path: ['paddedSize'],
  });
/** One logged batch, as the worker records it and the reader returns it. */
export type ExitLogItem = z.infer<typeof exitLogItemSchema>;
