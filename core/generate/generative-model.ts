/**
 * A decoder language model cut into segments that carry their layers' key-value caches, as the
 * zoo recipe `moby_gpt.py` exports it. `model.json` is read through a schema so that a directory
 * is either fully understood or refused with the offending field named; the sessions are opened
 * once here and shared by every decoder over the model.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ArtifactError, describeIssues } from '../errors';
import { openSession, type ModelSession, type SessionOptions } from '../inference/onnx-session';

const graphSchema = z.object({
  inputs: z.array(z.string().min(1)).min(3),
  outputs: z.array(z.string().min(1)).min(1),
});

const segmentSchema = graphSchema.extend({
  file: z.string().min(1),
  sha256: z.string().length(64),
  /** Layers [start, end) of the backbone that the segment runs. */
  layers: z.tuple([z.number().int().nonnegative(), z.number().int().positive()]),
  /** The token ramp fused at the segment's end; null for the last segment (the model's own head). */
  ramp: z.object({ afterLayer: z.number().int().positive() }).nullable(),
});

export const generativeModelSchema = graphSchema.extend({
  name: z.string().min(1),
  task: z.literal('text-generation'),
  file: z.string().min(1),
  sha256: z.string().length(64),
  architecture: z.object({
    layers: z.number().int().positive(),
    width: z.number().int().positive(),
    heads: z.number().int().positive(),
    context: z.number().int().min(2),
    vocabulary: z.literal(256),
    tokenizer: z.literal('utf-8 bytes'),
    /** The value `attn_bias` uses for a key a query must not see. */
    attnBiasMasked: z.number().negative(),
  }),
  segments: z.array(segmentSchema).min(1),
  evaluation: z
    .object({ heldOutPerplexity: z.number().positive(), heldOutBitsPerByte: z.number().positive() })
    .passthrough()
    .optional(),
});
export type GenerativeModelSpec = z.infer<typeof generativeModelSchema>;
export type GenerativeSegmentSpec = z.infer<typeof segmentSchema>;

/** One runnable piece of the decoder: a session and the layers whose caches it reads and writes. */
export interface DecoderSegment {
  readonly session: ModelSession;
  /** Backbone layers [start, end) of this segment. */
  readonly layers: readonly [number, number];
  /** Whether the segment starts from token ids (the embedding) rather than a hidden state. */
  readonly takesTokens: boolean;
  /** Whether the segment ends at a token ramp (false: it ends at the model's own head). */
  readonly endsAtRamp: boolean;
}

/** A model opened for decoding: its description and a chain of segments. */
export interface DecoderModel {
  readonly spec: GenerativeModelSpec;
  readonly segments: readonly DecoderSegment[];
  release(): Promise<void>;
}

/** Which graphs to open: the segment chain with its ramps, or the whole model as one segment. */
export type DecoderLayout = 'segments' | 'whole';

/** Reads and validates `model.json` of a generative model directory. */
export async function readGenerativeModelSpec(dir: string): Promise<GenerativeModelSpec> {
  const file = path.join(dir, 'model.json');
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (cause) {
    throw new ArtifactError(`cannot read ${file}: ${(cause as Error).message}`, { cause });
  }
  const parsed = generativeModelSchema.safeParse(raw);
  if (!parsed.success)
    throw new ArtifactError(
      `${file} is not a generative model description: ${describeIssues(parsed.error.issues)}`,
    );
  checkChain(parsed.data, file);
  return parsed.data;
}

/** The segments must tile the backbone in order, ramps exactly at the inner boundaries. */
function checkChain(spec: GenerativeModelSpec, file: string): void {
  let next = 0;
  spec.segments.forEach((segment, i) => {
    const last = i === spec.segments.length - 1;
    const [start, end] = segment.layers;
    if (start !== next || end <= start)
      throw new ArtifactError(
        `${file}: segment ${i} covers layers [${start}, ${end}), expected to start at ${next}`,
      );
    if (last !== (segment.ramp === null) || (segment.ramp !== null && segment.ramp.afterLayer !== end))
      throw new ArtifactError(
        `${file}: segment ${i} must ${last ? 'end at the model head' : `end at a ramp after layer ${end}`}`,
      );
    next = end;
  });
  if (next !== spec.architecture.layers)
    throw new ArtifactError(
      `${file}: segments end at layer ${next}, the model has ${spec.architecture.layers}`,
    );
}

/**
 * Opens a generative model for decoding. `whole` opens the single full graph (the plain model,
 * the baseline every comparison is made against); `segments` opens the chain with its ramps.
 */
export async function openDecoderModel(
  dir: string,
  layout: DecoderLayout,
  options: SessionOptions = {},
): Promise<DecoderModel> {
  const spec = await readGenerativeModelSpec(dir);
  const pieces =
    layout === 'whole'
      ? [{ file: spec.file, sha256: spec.sha256, layers: [0, spec.architecture.layers] as const, ramp: null }]
      : spec.segments;
  const segments: DecoderSegment[] = [];
  try {
    for (const piece of pieces) {
      const file = path.join(dir, piece.file);
      const bytes = await readFile(file).catch((cause: unknown) => {
        throw new ArtifactError(`cannot read ${file}: ${(cause as Error).message}`, { cause });
      });
      const digest = createHash('sha256').update(bytes).digest('hex');
      if (digest !== piece.sha256)
        throw new ArtifactError(
          `${file} has SHA-256 ${digest}; model.json records ${piece.sha256}: rebuild or re-export it`,
        );
      const session = await openSession(bytes, { intraOpThreads: 1, ...options });
      segments.push({
        session,
        layers: [piece.layers[0], piece.layers[1]],
        takesTokens: piece.layers[0] === 0,
        endsAtRamp: piece.ramp !== null,
      });
    }
  } catch (cause) {
    await Promise.all(segments.map((segment) => segment.session.release()));
    throw cause;
  }
  return {
    spec,
    segments,
    release: async () => {
      await Promise.all(segments.map((segment) => segment.session.release()));
    },
  };
}
