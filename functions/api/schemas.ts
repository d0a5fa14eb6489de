/**
 * The API's request and response bodies as zod schemas. They are the one definition of the wire
 * format: the ingest handler parses requests with them, the handlers type their responses with
 * them, and the OpenAPI document is generated from them (each schema registered here becomes a
 * component under its id), so the document cannot drift from what the code accepts and sends.
 */
import { z } from 'zod';
import { MAX_DEADLINE_MS, MIN_DEADLINE_MS } from './limits';
import { generateBodySchema } from '../../core/generate/generate-body';

/** Metadata of a schema in the API document. */
export interface ApiSchemaMeta {
  /** The component's name in `#/components/schemas/`. */
  readonly id: string;
  readonly description: string;
}

/** Every schema the OpenAPI document names, under its component id. */
export const apiSchemas = z.registry<ApiSchemaMeta>();

/** Request ids are server-generated UUIDs (or derived from an idempotency key, in UUID form). */
export const requestIdSchema = z
  .string()
  .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
  .register(apiSchemas, {
    id: 'RequestId',
    description: 'A request id: a UUID in lower-case hex, as returned by POST /v1/models/{model}/infer.',
  });

/** A value as the client sent it, short: bodies are JSON, so JSON shows it as they wrote it. */
const described = (value: unknown): string =>
  value === undefined
    ? 'nothing'
    : ((JSON.stringify(value) as string | undefined)?.slice(0, 60) ?? typeof value);

export const inferenceModeSchema = z
  .enum(['sync', 'async'], {
    error: (issue) => `mode must be "sync" or "async"; got ${described(issue.input)}`,
  })
  .register(apiSchemas, {
    id: 'InferenceMode',
    description:
      'sync (the default) waits for the answer up to the deadline; async answers 202 at once with the request id.',
  });

const deadlineMessage = (issue: { input?: unknown }): string =>
  `deadlineMs must be a whole number of milliseconds from ${MIN_DEADLINE_MS} to ${MAX_DEADLINE_MS}, ` +
  `counted from when the request arrives (0 or less is already past); got ${described(issue.input)}`;

/**
 * The body of POST /v1/models/{model}/infer. `inputs` is left open here because each model has its
 * own input (checked by the model's validator, which answers 422); a missing `inputs`, an unknown
 * field or a bad `deadlineMs`/`mode` is a malformed envelope (400).
 */
export const inferRequestSchema = z
  .strictObject(
    {
      inputs: z.unknown().refine((value) => value !== undefined, {
        error: 'inputs is required: the model input (see GET /v1/models for what each model takes)',
      }),
      deadlineMs: z
        .number({ error: deadlineMessage })
        .int({ error: deadlineMessage })
        .min(MIN_DEADLINE_MS, { error: deadlineMessage })
        .max(MAX_DEADLINE_MS, { error: deadlineMessage })
        .optional(),
      mode: inferenceModeSchema.optional(),
    },
    {
      error: (issue) =>
        issue.code === 'unrecognized_keys'
          ? `unknown field ${issue.keys.map((key) => `"${key}"`).join(', ')}; allowed fields: inputs, deadlineMs, mode`
          : `the body must be a JSON object with fields inputs, deadlineMs (optional) and mode (optional); got ${
              Array.isArray(issue.input)
                ? 'an array'
                : issue.input === null
                  ? 'null'
                  : `a ${typeof issue.input}`
            }`,
    },
  )
  .register(apiSchemas, {
    id: 'InferRequest',
    description:
      'inputs: the model input (an image as an array of H*W*C grey values from 0 to 255 in row-major order or as {"image": "<PNG or JPEG file, base64>"}, or raw text for a text model). deadlineMs: the time budget from arrival, default 5000 unless the deployment sets another. mode: sync (default) or async.',
  });
export type InferRequest = z.infer<typeof inferRequestSchema>;

const labelSchema = z.union([z.string(), z.number().int().nonnegative()]).register(apiSchemas, {
  id: 'Label',
  description: 'The predicted class: its name where the model names its classes, else its index.',
});
const confidenceSchema = z.number().min(0).max(1);
const millisecondsSchema = z.number().nonnegative();
const configVersionSchema = z.number().int().nonnegative();

export const earlyAnswerViewSchema = z
  .strictObject({
    label: labelSchema,
    confidence: confidenceSchema.describe("The ramp's maximum softmax probability."),
    exit: z.string().describe('The id of the ramp the input exited at.'),
    configVersion: configVersionSchema.describe('The config (ramp set and thresholds) that answered.'),
    latencyMs: millisecondsSchema.describe('From enqueue to the release of this answer on the worker.'),
  })
  .register(apiSchemas, {
    id: 'EarlyAnswer',
    description: 'The answer released at a ramp, before the input reached the end of the model.',
  });
export type EarlyAnswerView = z.infer<typeof earlyAnswerViewSchema>;

export const finalAnswerViewSchema = z
  .strictObject({
    label: labelSchema,
    confidence: confidenceSchema.describe("The full model's maximum softmax probability."),
    latencyMs: millisecondsSchema.describe('From enqueue to the end of the batch on the worker.'),
    configVersion: configVersionSchema.optional().describe('The config the batch ran under.'),
    agreesWithEarly: z
      .boolean()
      .optional()
      .describe('Whether the early answer equalled this one; absent when the input exited nowhere.'),
  })
  .register(apiSchemas, {
    id: 'FinalAnswer',
    description: "The full model's answer; every input reaches it, early answer or not.",
  });
export type FinalAnswerView = z.infer<typeof finalAnswerViewSchema>;

export const inferAnswerSchema = z
  .strictObject({
    requestId: requestIdSchema,
    model: z.string(),
    label: labelSchema,
    confidence: confidenceSchema,
    exit: z.string().describe('The ramp id the answer came from, or "final" when it is the full model\'s.'),
    configVersion: configVersionSchema.optional().describe('The config that answered.'),
    latencyMs: z.strictObject({
      total: millisecondsSchema.describe('From the arrival of the request to this response.'),
      worker: millisecondsSchema.describe('From enqueue to the release of the answer on the worker.'),
    }),
    final: finalAnswerViewSchema
      .optional()
      .describe("The full model's answer, when it was already known as the early answer was returned."),
  })
  .register(apiSchemas, {
    id: 'InferAnswer',
    description:
      'The answer to a synchronous request: the early answer if a ramp was confident, else the full model\'s (exit "final").',
  });
export type InferAnswer = z.infer<typeof inferAnswerSchema>;

export const streamFinalSchema = z
  .strictObject({
    requestId: requestIdSchema,
    model: z.string(),
    label: labelSchema,
    confidence: confidenceSchema.describe("The full model's maximum softmax probability."),
    configVersion: configVersionSchema.optional().describe('The config the batch ran under.'),
    agreesWithEarly: z
      .boolean()
      .optional()
      .describe(
        'Whether the early answer sent before equalled this one; absent when the input exited nowhere.',
      ),
    latencyMs: z.strictObject({
      total: millisecondsSchema.describe('From the arrival of the request to this event.'),
      worker: millisecondsSchema.describe('From enqueue to the end of the batch on the worker.'),
    }),
  })
  .register(apiSchemas, {
    id: 'StreamFinal',
    description:
      "The last event of a streamed answer: the full model's answer and whether the early one agreed with it.",
  });
export type StreamFinal = z.infer<typeof streamFinalSchema>;

export const acceptedSchema = z
  .strictObject({
    requestId: requestIdSchema,
    model: z.string(),
    status: z.literal('pending'),
    deadlineAt: z.iso.datetime().describe('The absolute deadline, ISO 8601.'),
    links: z.strictObject({ result: z.string().describe('Where to GET the result.') }),
  })
  .register(apiSchemas, {
    id: 'Accepted',
    description: 'An asynchronous request was queued; GET links.result for its answer.',
  });
export type AcceptedView = z.infer<typeof acceptedSchema>;

export const errorDetailSchema = z
  .strictObject({
    code: z.string().describe('A stable machine-readable reason, such as invalid_input.'),
    message: z.string().describe('What was wrong and what is allowed.'),
    requestId: requestIdSchema.optional().describe('Set when the request was accepted before it failed.'),
  })
  .register(apiSchemas, { id: 'ErrorDetail', description: 'Why a request failed.' });
export type ErrorDetail = z.infer<typeof errorDetailSchema>;

export const errorBodySchema = z
  .strictObject({ error: errorDetailSchema })
  .register(apiSchemas, { id: 'Error', description: 'The body of every error response.' });
export type ErrorBody = z.infer<typeof errorBodySchema>;

export const requestStatusSchema = z
  .strictObject({
    requestId: requestIdSchema,
    model: z.string().optional(),
    status: z
      .enum(['pending', 'early', 'final', 'error'])
      .describe(
        'pending: accepted, no answer yet; early: a ramp answered, the full model has not yet; final: the full model answered; error: the request failed.',
      ),
    deadlineAt: z.iso.datetime().optional().describe('The absolute deadline, ISO 8601, while known.'),
    early: earlyAnswerViewSchema.optional(),
    final: finalAnswerViewSchema.optional(),
    error: z.strictObject({ code: z.string(), message: z.string() }).optional(),
  })
  .register(apiSchemas, {
    id: 'RequestStatus',
    description: "A request's state and every answer known so far.",
  });
export type RequestStatusView = z.infer<typeof requestStatusSchema>;

export const modelInputSchema = z
  .discriminatedUnion('kind', [
    z.strictObject({
      kind: z.literal('image'),
      height: z.number().int().positive(),
      width: z.number().int().positive(),
      channels: z.number().int().positive(),
      length: z
        .number()
        .int()
        .positive()
        .describe('How many values inputs must hold: height*width*channels.'),
      minValue: z.number(),
      maxValue: z.number(),
    }),
    z.strictObject({
      kind: z.literal('text'),
      maxChars: z.number().int().positive().describe('Longest text accepted, characters.'),
    }),
  ])
  .register(apiSchemas, { id: 'ModelInput', description: 'What the model takes as inputs.' });
export type ModelInputView = z.infer<typeof modelInputSchema>;

export const modelSummarySchema = z
  .strictObject({
    name: z.string(),
    task: z.enum(['image-classification', 'text-classification']),
    classes: z.array(z.string()),
    input: modelInputSchema,
    configVersion: configVersionSchema.describe('The version of the config serving now.'),
    links: z.strictObject({ infer: z.string(), config: z.string() }),
  })
  .register(apiSchemas, { id: 'ModelSummary', description: 'A served model.' });
export type ModelSummary = z.infer<typeof modelSummarySchema>;

export const modelListSchema = z
  .strictObject({ models: z.array(modelSummarySchema) })
  .register(apiSchemas, { id: 'ModelList', description: 'Every model this deployment serves.' });
export type ModelList = z.infer<typeof modelListSchema>;

export const modelConfigSchema = z
  .strictObject({
    model: z.string(),
    version: configVersionSchema,
    source: z
      .enum(['published', 'initial'])
      .describe("published: written by the controller; initial: the bundle's own, before any was published."),
    publishedAt: z.iso.datetime().optional().describe('When the controller published it, ISO 8601.'),
    ramps: z
      .array(
        z.strictObject({
          id: z.string(),
          threshold: z
            .number()
            .min(0)
            .max(1)
            .describe('An input exits here when 1 - confidence < threshold.'),
          latencyFraction: z
            .number()
            .min(0)
            .max(1)
            .optional()
            .describe("Share of the full model's latency spent before this ramp."),
        }),
      )
      .describe('The active ramps, shallow to deep.'),
  })
  .register(apiSchemas, {
    id: 'ModelConfig',
    description: "The model's current config: its version, active ramps and their thresholds.",
  });
export type ModelConfigView = z.infer<typeof modelConfigSchema>;

/** Every registered schema, so the document can attach each component's description. */
/** The generate body, defined beside the decoder (core/generate) and named here for the document. */
export const generateRequestSchema = generateBodySchema.register(apiSchemas, {
  id: 'GenerateRequest',
  description: 'The body of POST /v1/models/{model}/generate. Unknown fields are refused.',
});

export const generateTokenEventSchema = z
  .strictObject({
    index: z.number().int().nonnegative().describe("The token's index among the generated ones, from 0."),
    token: z.number().int().min(0).max(255).describe('The token: one UTF-8 byte for a byte-level model.'),
    text: z.string().describe('The characters this byte completes (empty inside a multi-byte character).'),
    exitRamp: z
      .number()
      .int()
      .nonnegative()
      .nullable()
      .describe('The ramp that released the token (0 the shallowest), or null for the full model.'),
  })
  .register(apiSchemas, { id: 'GenerateToken', description: 'The data of one `token` event.' });

export const generateDoneSchema = z
  .strictObject({
    tokens: z.number().int().nonnegative().describe('Tokens generated.'),
    text: z.string().describe('The whole generated text.'),
  })
  .register(apiSchemas, { id: 'GenerateDone', description: 'The data of the final `done` event.' });

export const API_COMPONENT_SCHEMAS: readonly z.ZodType[] = [
  requestIdSchema,
  inferenceModeSchema,
  inferRequestSchema,
  labelSchema,
  earlyAnswerViewSchema,
  finalAnswerViewSchema,
  inferAnswerSchema,
  streamFinalSchema,
  acceptedSchema,
  errorDetailSchema,
  errorBodySchema,
  requestStatusSchema,
  modelInputSchema,
  modelSummarySchema,
  modelListSchema,
  modelConfigSchema,
  generateRequestSchema,
  generateTokenEventSchema,
  generateDoneSchema,
];
