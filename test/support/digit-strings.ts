/**
 * Real text-line images for third-party OCR models: strings of MNIST digits (from the committed
 * fixture data set) set side by side on a white line, upright or turned upside down. PaddleOCR's
 * text-direction classifier answers exactly that question (0°: upright, 180°: upside down), so
 * its own answers on these lines are meaningful, not noise on synthetic zeros.
 */
import { join } from 'node:path';
import { loadSplit, type ImageSplit } from '../../core/data/dataset';
import { ZOO_DATA_DIR } from '../../core/zoo/fixtures';

/** A grey text line: `height × width` bytes, dark ink on white, row-major. */
export interface TextLine {
  readonly height: number;
  readonly width: number;
  readonly grey: Uint8Array;
  readonly upsideDown: boolean;
}

/** The MNIST serving split the lines are drawn from. */
export async function mnistDigits(): Promise<ImageSplit> {
  const split = await loadSplit(join(ZOO_DATA_DIR, 'mnist'), 'serving');
  if (split.kind !== 'image') throw new Error('the mnist fixture data set is not an image data set');
  return split;
}

/**
 * Line `index`: `digits` consecutive MNIST digits starting at `index * digits`, inverted to dark
 * ink on white, laid out left to right; odd lines are rotated by 180°.
 */
export function digitLine(
  split: ImageSplit,
  index: number,
  options: { digits?: number; height?: number } = {},
): TextLine {
  const digits = options.digits ?? 6;
  const size = split.height;
  const height = options.height ?? 32;
  const width = digits * size + 2 * 4;
  const grey = new Uint8Array(height * width).fill(255);
  const top = Math.floor((height - size) / 2);
  for (let d = 0; d < digits; d++) {
    const sample = (index * digits + d) % split.count;
    const offset = sample * size * size;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < split.width; x++) {
        const ink = split.pixels[offset + y * split.width + x] as number;
        grey[(top + y) * width + 4 + d * size + x] = 255 - ink;
      }
    }
  }
  const upsideDown = index % 2 === 1;
  if (upsideDown) grey.reverse();
  return { height, width, grey, upsideDown };
}

/**
 * PaddleOCR's classifier input for a line: resized (nearest neighbour) to 48 rows keeping the aspect
 * ratio, padded with zeros to 192 columns, three channels, scaled to [-1, 1] as PaddleOCR does.
 */
export function paddleClsInput(line: TextLine, height = 48, width = 192): Float32Array {
  const scaledWidth = Math.min(width, Math.ceil((line.width * height) / line.height));
  const out = new Float32Array(3 * height * width);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(line.height - 1, Math.floor((y * line.height) / height));
    for (let x = 0; x < scaledWidth; x++) {
      const sx = Math.min(line.width - 1, Math.floor((x * line.width) / scaledWidth));
      const value = ((line.grey[sy * line.width + sx] as number) / 255 - 0.5) / 0.5;
      for (let c = 0; c < 3; c++) out[c * height * width + y * width + x] = value;
    }
  }
  return out;
}

/**
 * A line resized (nearest neighbour) to `height × width` grey bytes, as `paddleClsInput` samples it
 * when the line's aspect ratio fills the width: the pixels a client would send as the image file.
 */
export function resizedLine(line: TextLine, height = 48, width = 192): Uint8Array {
  const out = new Uint8Array(height * width);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(line.height - 1, Math.floor((y * line.height) / height));
    for (let x = 0; x < width; x++) {
      const sx = Math.min(line.width - 1, Math.floor((x * line.width) / width));
      out[y * width + x] = line.grey[sy * line.width + sx] as number;
    }
  }
  return out;
}
