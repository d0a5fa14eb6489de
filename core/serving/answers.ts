/**
 * The answers a worker releases for a request, defined once: the early answer (at a ramp), the
 * final answer (the full model's) and an error. The worker's sinks hand them on whole; each store
 * keeps the fields it needs (the results table, the Redis hash), the answer channel carries them
 * to a waiting request, and the API turns the stored record into its response. A field's meaning
 * and range are therefore the same everywhere.
 */
import { z } from 'zod';

/** Request ids come from clients (idempotency keys) or the ingest side. */
export const requestIdSchema = z.string().min(1).max(128);
/**
 * Model ids appear inside table keys. Partition keys may hold 2048 bytes; the limit here keeps
 * every key built from a model id well inside that, whatever characters it uses.
 */
export const modelIdSchema = z.string().min(1).max(256);
/** The class name (or its index as text where the model has no names). */
export const classLabelSchema = z.string().min(1).max(256);
const confidenceSchema = z.number().min(0).max(1);
const msSchema = z.number().nonnegative().finite();
const configVersionSchema = z.number().int().nonnegative();
/** Error messages longer than this are cut, not refused: recording the failure matters more. */
export const MAX_ERROR_MESSAGE_LENGTH = 1024;

export const earlyAnswerSchema = z.object({
  model: modelIdSchema,
  label: classLabelSchema,
  classIndex: z.number().int().nonnegative(),
  /** The exiting ramp's maximum softmax probability. */
  confidence: confidenceSchema,
  /** Candidate id of the ramp the input exited at. */
  exit: z.string().min(1).max(128),
  /** From the request's enqueue time to this release, ms (clocks of two hosts: clamped at 0). */
  latencyMs: msSchema,
  configVersion: configVersionSchema,
  /** Epoch ms at release, sub-millisecond, on the worker's clock. */
  releasedAtMs: msSchema,
});
/** The answer released at a ramp, before the full model has finished. */
export type EarlyAnswer = z.infer<typeof earlyAnswerSchema>;

export const finalAnswerSchema = z.object({
  model: modelIdSchema,
  label: classLabelSchema,
  classIndex: z.number().int().nonnegative(),
  confidence: confidenceSchema,
  latencyMs: msSchema,
  /** Whether the early answer equalled this one; absent when the input exited nowhere. */
  agreesWithEarly: z.boolean().optional(),
  configVersion: configVersionSchema,
  releasedAtMs: msSchema,
});
/** The full model's answer, released when the batch reaches the end. */
export type FinalAnswer = z.infer<typeof finalAnswerSchema>;

export const answerErrorSchema = z.object({
  /** A short machine-readable reason: `invalid_input`, `deadline_exceeded`, `unknown_model`. */
  code: z.string().min(1).max(64),
  /** Stores keep the first `MAX_ERROR_MESSAGE_LENGTH` characters. */
  message: z.string(),
});
/** Why a request got no answer. */
export type AnswerError = z.infer<typeof answerErrorSchema>;
