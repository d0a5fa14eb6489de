/**
 * The schema of `model.json`, the description that travels with every ONNX model the project
 * serves. Everything that reads a model (CLI, worker, API validation) goes through this schema, so
 * a model directory is either fully understood or refused with a message naming the bad field.
 */
import { z } from 'zod';

/** A tensor's dimension: a fixed size, or a named symbolic one such as `batch`. */
const dimensionSchema = z.union([z.number().int().positive(), z.string().min(1)]);

export const tensorSpecSchema = z.object({
  name: z.string().min(1),
  dtype: z.enum(['float32', 'int64']),
  shape: z.array(dimensionSchema).min(1),
});
export type TensorSpec = z.infer<typeof tensorSpecSchema>;

/**
 * How an image becomes the model's input tensor. A pixel's value v (0-255, from an array or a
 * decoded PNG/JPEG) of channel c enters the graph as `(v * scale - mean[c]) / std[c]`, laid out as
 * `layout` says, so a model trained elsewhere is fed exactly what its own pipeline fed it
 * (PaddleOCR: scale 1/255, mean 0.5, std 0.5; torchvision: the ImageNet means and deviations).
 */
export const imagePreprocessingSchema = z
  .object({
    type: z.literal('image'),
    height: z.number().int().positive(),
    width: z.number().int().positive(),
    /** 1 (grey, by luminance) or 3 (colour). */
    channels: z.union([z.literal(1), z.literal(3)], {
      error: 'channels must be 1 (grey) or 3 (colour)',
    }),
    /** Multiplier applied to each raw grey/colour byte before it enters the graph. */
    scale: z.number().positive(),
    /** Subtracted from each scaled value, one per channel. @default 0 */
    mean: z.array(z.number()).optional(),
    /** Divides each value after the mean, one per channel, none zero. @default 1 */
    std: z.array(z.number().refine((value) => value !== 0, 'std values must not be 0')).optional(),
    /** Channel-first (PyTorch, Paddle) or channel-last (TensorFlow/Keras). */
    layout: z.enum(['NCHW', 'NHWC']),
    /** Order of the colour channels the model was trained on (OpenCV pipelines read BGR). @default "RGB" */
    channelOrder: z.enum(['RGB', 'BGR']).optional(),
    /**
     * What an image file of another size becomes: `stretch` resizes it to height x width
     * (bilinear), `exact` refuses it, for models whose inputs must not be distorted. @default "stretch"
     */
    resize: z.enum(['stretch', 'exact']).optional(),
    description: z.string().optional(),
  })
  .superRefine((pre, ctx) => {
    for (const key of ['mean', 'std'] as const) {
      const values = pre[key];
      if (values !== undefined && values.length !== pre.channels) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `${key} must hold one value per channel (${pre.channels}); got ${values.length}`,
        });
      }
    }
  });
export type ImagePreprocessing = z.infer<typeof imagePreprocessingSchema>;

export const asciiTokenizerSpecSchema = z.object({
  type: z.literal('ascii-words'),
  lowercase: z.literal('ascii'),
  maxLength: z.number().int().min(2),
  padId: z.number().int().nonnegative(),
  unkId: z.number().int().nonnegative(),
  clsId: z.number().int().nonnegative(),
  vocab: z.array(z.string()).min(3),
});
export type AsciiTokenizerSpec = z.infer<typeof asciiTokenizerSpecSchema>;

/**
 * A Hugging Face `tokenizer.json` (WordPiece, BPE, Unigram, ...), run by `@huggingface/tokenizers`:
 * its normaliser, pre-tokenizer, model, special tokens, truncation and padding as the file says,
 * padded to the length of the model's token-id input.
 */
export const huggingFaceTokenizerSpecSchema = z.object({
  type: z.literal('huggingface'),
  /** The tokenizer.json file, relative to the model directory. */
  file: z.string().min(1),
  /**
   * The file's content. The model loader fills it from `file`, so a bundle's manifest carries the
   * tokenizer to wherever the model is served; model.json itself names the file only.
   */
  content: z.record(z.string(), z.unknown()).optional(),
});
export type HuggingFaceTokenizerSpec = z.infer<typeof huggingFaceTokenizerSpecSchema>;

export const tokenizerSpecSchema = z.discriminatedUnion('type', [
  asciiTokenizerSpecSchema,
  huggingFaceTokenizerSpecSchema,
]);
export type TokenizerSpec = z.infer<typeof tokenizerSpecSchema>;

export const textPreprocessingSchema = z.object({
  type: z.literal('text'),
  tokenizer: tokenizerSpecSchema,
});
export type TextPreprocessing = z.infer<typeof textPreprocessingSchema>;

export const modelSpecSchema = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lowercase letters, digits and dashes'),
  task: z.enum(['image-classification', 'text-classification']),
  file: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits'),
  classes: z.array(z.string()).min(2),
  inputs: z.array(tensorSpecSchema).min(1),
  outputs: z.array(tensorSpecSchema).min(1),
  preprocessing: z.discriminatedUnion('type', [imagePreprocessingSchema, textPreprocessingSchema]),
  /** Name of the fixture data set under `zoo/data/` the model was trained and measured on. */
  dataset: z.string().optional(),
  /** Top-1 accuracy the training recipe measured over the whole serving stream, as a fraction. */
  servingAccuracy: z.number().min(0).max(1).optional(),
  servingSamples: z.number().int().positive().optional(),
  trainAccuracy: z.number().min(0).max(1).optional(),
  architecture: z.record(z.string(), z.unknown()).optional(),
  training: z.record(z.string(), z.unknown()).optional(),
  provenance: z.record(z.string(), z.unknown()).optional(),
});
export type ModelSpec = z.infer<typeof modelSpecSchema>;
