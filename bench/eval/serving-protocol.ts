/**
 * The messages between the evaluation's client (the process that offers the load and times every
 * answer) and its serving process (the worker, its live controller and its config store), so that
 * the client never shares an event loop with the system it measures. Both directions are checked
 * with zod: a malformed message is a bug in one of the two sides, and is named as such.
 */
import { z } from 'zod';

const rampConfigSchema = z.object({
  version: z.number().int(),
  ramps: z.array(z.object({ id: z.string(), threshold: z.number() })),
});
const requestInputSchema = z.union([z.array(z.number()), z.string()]);

/** The worker's thread layout (core/inference/thread-layout.ts); unset counts take its defaults. */
const layoutSchema = z
  .object({
    inferenceThreads: z.number().int().positive().optional(),
    intraOpThreads: z.number().int().nonnegative().optional(),
  })
  .strict();

/** The live Apparate controller's settings; the serving process builds it from the bundle. */
export const controllerSettingsSchema = z.object({
  constraint: z.number().gt(0).lte(1),
  rampBudget: z.number().gt(0),
  adjustPeriodBatches: z.number().int().positive(),
});
export type ControllerSettings = z.infer<typeof controllerSettingsSchema>;

/** What the client asks of the serving process. */
export const servingCommandSchema = z.discriminatedUnion('type', [
  /** Measure the plain model's capacity in a closed loop, reply `capacity`, and exit. */
  z.object({
    type: z.literal('capacity'),
    bundleDir: z.string(),
    model: z.string(),
    inputs: z.array(requestInputSchema).min(1),
    largestBatchSize: z.number().int().positive(),
    seconds: z.number().positive(),
    layout: layoutSchema,
  }),
  /** Start the worker under `config`, warm it up, and reply `ready`. */
  z.object({
    type: z.literal('serve'),
    bundleDir: z.string(),
    model: z.string(),
    config: rampConfigSchema,
    configPollMs: z.number().int().positive(),
    warmupInputs: z.array(requestInputSchema),
    controller: controllerSettingsSchema.optional(),
    layout: layoutSchema,
  }),
  /** Enqueue requests now (the client sends each at its planned arrival). */
  z.object({
    type: z.literal('send'),
    requests: z.array(
      z.object({
        requestId: z.string(),
        enqueuedAtMs: z.number(),
        deadlineAtMs: z.number(),
        input: requestInputSchema,
      }),
    ),
  }),
  /** Stop the worker, reply `stopped`, and exit. */
  z.object({ type: z.literal('stop') }),
]);
export type ServingCommand = z.infer<typeof servingCommandSchema>;

/** One answer as the client needs it: which request, what kind, which class under which config. */
export const releaseSchema = z.object({
  requestId: z.string(),
  kind: z.enum(['early', 'final', 'error']),
  classIndex: z.number().int(),
  configVersion: z.number().int(),
  /** Epoch ms at which the worker's main thread released the answer; absent for errors. */
  releasedAtMs: z.number().optional(),
  /** The error's code, for `kind: 'error'`. */
  code: z.string().optional(),
  message: z.string().optional(),
});
export type Release = z.infer<typeof releaseSchema>;

/** What the serving process tells the client. */
export const servingReplySchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('capacity'),
    rps: z.number(),
    largestBatchMs: z.number(),
    largestBatchSize: z.number().int(),
  }),
  z.object({ type: z.literal('ready') }),
  /** Answers released since the last such message, in release order. */
  z.object({ type: z.literal('releases'), releases: z.array(releaseSchema) }),
  /** One served batch: its requests, and when it started and each request's final answer came, epoch ms. */
  z.object({
    type: z.literal('batch'),
    requestIds: z.array(z.string()),
    startedAtMs: z.number(),
    finalAtMs: z.array(z.number()),
    paddedSize: z.number().int(),
    configVersion: z.number().int(),
  }),
  /** The live controller published a new config, with its ramps' ids (a changed set rebuilds sessions). */
  z.object({ type: z.literal('published'), version: z.number().int(), rampIds: z.array(z.string()) }),
  /**
   * The worker stopped. `cpu`: what the serving process spent from `ready` to `stop`, ms, on its
   * main thread (queue, batching, releases, the live controller, this channel), on its inference
   * lanes, and on its other threads (V8's collector helpers, libuv), as bench/thread-cpu.ts splits
   * them; absent where Linux's per-thread counters are not readable.
   */
  z.object({
    type: z.literal('stopped'),
    cpu: z.object({ mainMs: z.number(), lanesMs: z.number(), otherMs: z.number() }).optional(),
  }),
  z.object({ type: z.literal('failed'), message: z.string() }),
]);
export type ServingReply = z.infer<typeof servingReplySchema>;
