/**
 * The check every request's `input` passes before it may join a batch. The queue's schema leaves
 * `input` open (each model has its own), so this is where a wrong shape, a wrong type or a NaN is
 * caught: one bad request must get a clear answer of its own and never reach the encoder, where it
 * would fail the whole batch it shares with well-formed requests.
 */
import { InputError } from '../errors';
import type { RawSample } from './batch-encoding';
import { imageFileToPixels } from './image-file';
import type { ModelSpec } from '../model/model-spec';

/** Longest text accepted, in characters; well beyond any tokenizer window, short of abuse. */
export const DEFAULT_MAX_TEXT_CHARS = 100_000;

/** Why an input was refused, in the words a client needs to fix it. */
export interface InputProblem {
  /** Always `invalid_input`, so callers can map it to a 4xx without reading the message. */
  readonly code: 'invalid_input';
  readonly message: string;
  /**
   * For an image file that cannot be used: the reason alone (undecodable, too large, wrong size),
   * without the JSON form's wording, for callers that received the file as the raw body.
   */
  readonly fileReason?: string;
}

export type ValidatedInput =
  { readonly ok: true; readonly sample: RawSample } | { readonly ok: false; readonly problem: InputProblem };

/** Builds a validator for one model, once, so per-request work is the check itself. */
export function createInputValidator(
  spec: ModelSpec,
  options: { readonly maxTextChars?: number } = {},
): (input: unknown) => ValidatedInput {
  const pre = spec.preprocessing;
  if (pre.type === 'image') {
    const size = pre.height * pre.width * pre.channels;
    const shape = `${pre.channels > 1 ? `${pre.channels}x` : ''}${pre.height}x${pre.width}`;
    const allowed = `an array of ${size} grey values (${shape}), each a number from 0 to 255, or {"image": "<a PNG or JPEG file, base64>"}`;
    return (input) => {
      const file = imageFileOf(input);
      if (file === undefined) return validateImage(input, size, allowed);
      if (!file.ok) return refuse(file.message);
      try {
        return validateImage(imageFileToPixels(file.bytes, pre), size, allowed);
      } catch (error) {
        if (!(error instanceof InputError)) throw error;
        return {
          ok: false,
          problem: {
            code: 'invalid_input',
            message: `input.image must be a PNG or JPEG file, base64-encoded: ${error.message}`,
            fileReason: error.message,
          },
        };
      }
    };
  }
  const maxChars = options.maxTextChars ?? DEFAULT_MAX_TEXT_CHARS;
  return (input) => validateText(input, maxChars);
}

/** Base64 as RFC 4648 writes it, with or without padding (whitespace is dropped first). */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * The file bytes of an `{"image": "<base64>"}` input; undefined for any other input (an array goes
 * on to the array check, with its own message).
 */
function imageFileOf(
  input: unknown,
): { ok: true; bytes: Uint8Array } | { ok: false; message: string } | undefined {
  if (typeof input !== 'object' || input === null || Array.isArray(input) || !('image' in input))
    return undefined;
  const keys = Object.keys(input);
  const text = input.image;
  if (keys.length !== 1 || typeof text !== 'string') {
    return {
      ok: false,
      message: 'an image input must be {"image": "<a PNG or JPEG file, base64>"} and nothing else',
    };
  }
  const compact = text.replace(/\s+/g, '').replace(/^data:image\/(png|jpeg);base64,/, '');
  if (compact.length === 0 || !BASE64.test(compact)) {
    return { ok: false, message: 'input.image must be a PNG or JPEG file, base64-encoded; it is not base64' };
  }
  return { ok: true, bytes: Buffer.from(compact, 'base64') };
}

function refuse(message: string): ValidatedInput {
  return { ok: false, problem: { code: 'invalid_input', message } };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return `a ${typeof value}`;
}

function validateImage(input: unknown, size: number, allowed: string): ValidatedInput {
  if (!Array.isArray(input)) return refuse(`input must be ${allowed}; got ${describe(input)}`);
  if (input.length !== size) return refuse(`input must be ${allowed}; got ${describe(input)} values`);
  // A JSON body cannot carry NaN or Infinity (they arrive as null), so non-numbers are caught here too.
  for (let i = 0; i < size; i++) {
    const value: unknown = input[i];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 255) {
      const shown = typeof value === 'number' ? String(value) : describe(value);
      return refuse(`input must be ${allowed}; value ${i} is ${shown}`);
    }
  }
  return { ok: true, sample: { kind: 'image', pixels: input as number[] } };
}

function validateText(input: unknown, maxChars: number): ValidatedInput {
  const allowed = `a non-empty string of at most ${maxChars} characters`;
  if (typeof input !== 'string') return refuse(`input must be ${allowed}; got ${describe(input)}`);
  if (input.trim().length === 0) return refuse(`input must be ${allowed}; got an empty string`);
  if (input.length > maxChars) return refuse(`input must be ${allowed}; got ${input.length} characters`);
  return { ok: true, sample: { kind: 'text', text: input } };
}
