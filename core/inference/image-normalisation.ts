/**
 * From an image's 0-255 values to the numbers the graph was trained on, as `model.json` declares:
 * scale, per-channel mean and standard deviation, channel order and layout. Every image reaches
 * this as channel-first values (an array input, or a decoded PNG/JPEG), so the API's pixel order
 * is one and the same for every model, and only this step knows the model's own tensor layout.
 */
import { InputError } from '../errors';
import type { ImagePreprocessing } from '../model/model-spec';

/** Writes one image into a batch buffer. */
export interface ImageNormaliser {
  /** Values per image: channels x height x width. */
  readonly size: number;
  /** The tensor's dimensions after the batch axis, in the model's layout. */
  readonly dims: readonly number[];
  /** Writes `pixels` (channel-first, 0-255) into `out` from `offset`, normalised and laid out. */
  write(pixels: ArrayLike<number>, out: Float32Array, offset: number): void;
}

/** The normaliser a model's image preprocessing calls for. */
export function createImageNormaliser(pre: ImagePreprocessing): ImageNormaliser {
  const { channels, height, width } = pre;
  const area = height * width;
  const size = channels * area;
  // value = (v * scale - mean) / std = v * factor + shift, one pair per channel.
  const factor = Array.from({ length: channels }, (_, c) => pre.scale / (pre.std?.[c] ?? 1));
  const shift = Array.from({ length: channels }, (_, c) => -(pre.mean?.[c] ?? 0) / (pre.std?.[c] ?? 1));
  const plain = pre.mean === undefined && pre.std === undefined;
  // The source channel of each target channel: BGR models read the colour planes reversed.
  const source = Array.from({ length: channels }, (_, c) =>
    pre.channelOrder === 'BGR' && channels === 3 ? 2 - c : c,
  );
  const channelLast = pre.layout === 'NHWC';
  return {
    size,
    dims: channelLast ? [height, width, channels] : [channels, height, width],
    write(pixels, out, offset) {
      for (let c = 0; c < channels; c++) {
        const from = (source[c] as number) * area;
        const a = factor[c] as number;
        const b = shift[c] as number;
        for (let i = 0; i < area; i++) {
          const v = pixels[from + i] as number;
          // Without mean and std the value is exactly v * scale, as the fixtures were measured.
          const value = plain ? v * pre.scale : v * a + b;
          out[channelLast ? offset + i * channels + c : offset + c * area + i] = value;
        }
      }
    },
  };
}

/** Refuses a model whose input tensor does not have the shape its preprocessing describes. */
export function checkImageTensorShape(
  model: string,
  input: { readonly name: string; readonly shape: readonly (number | string)[] },
  normaliser: ImageNormaliser,
  layout: ImagePreprocessing['layout'],
): void {
  const dims = input.shape.slice(1);
  if (dims.join(',') !== normaliser.dims.join(',')) {
    throw new InputError(
      `model ${model}: input ${input.name} has shape [${input.shape.join(', ')}], but its preprocessing (${layout}) describes [batch, ${normaliser.dims.join(', ')}]; make height, width, channels and layout in model.json match the ONNX input`,
    );
  }
}
