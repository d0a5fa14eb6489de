/**
 * The body of `POST /v1/models/{model}/generate`, shared by the route that serves it (the worker's,
 * or the local stack's) and the API document, so the two cannot disagree on what is allowed.
 */
import { z } from 'zod';

/** Bodies larger than this are refused: a prompt never needs more than a model's context. */
export const MAX_GENERATE_BODY_BYTES = 64 * 1024;
/** The most tokens one request may ask for (the model's context bounds it further). */
export const MAX_GENERATE_TOKENS = 1024;
export const DEFAULT_GENERATE_TOKENS = 32;
export const MAX_TEMPERATURE = 2;

export const generateBodySchema = z
  .object({
    prompt: z.string().min(1, 'prompt must not be empty').describe('The text to continue (UTF-8).'),
    maxTokens: z
      .number()
      .int()
      .min(1)
      .max(MAX_GENERATE_TOKENS)
      .default(DEFAULT_GENERATE_TOKENS)
      .describe("Tokens to generate; the prompt's bytes plus maxTokens must fit the model's context."),
    temperature: z
      .number()
      .min(0)
      .max(MAX_TEMPERATURE)
      .default(0)
      .describe('0 is greedy decoding; above 0 samples from the softmax at the exit point.'),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .optional()
      .describe('Seed of the sampler when temperature is above 0.'),
  })
  .strict();
export type GenerateBody = z.infer<typeof generateBodySchema>;
