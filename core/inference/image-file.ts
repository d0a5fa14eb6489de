/**
 * Images as clients hold them: PNG or JPEG files. They are decoded with maintained decoders
 * (pngjs, jpeg-js), turned into the model's channels (grey by luminance, or RGB), resized to the
 * model's height and width (bilinear) and laid out channel-first, giving exactly the 0-255 values
 * an array input would carry. Everything after this (scaling, validation of values, batching) is
 * the same for a file and for an array, so both paths serve the same answers.
 */
import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { InputError } from '../errors';

/**
 * The media types of the files this module reads. A request body of one of these types is an
 * image file: API Gateway must pass them through as binary (its `binaryMediaTypes`), and the
 * local server does the same.
 */
export const IMAGE_MEDIA_TYPES = ['image/png', 'image/jpeg'] as const;

/** Largest image accepted, in pixels (16 megapixels); larger files are refused before decoding. */
export const MAX_IMAGE_PIXELS = 16 * 1024 * 1024;

/** What the image must become: the model's `preprocessing` for images. */
export interface ImageTarget {
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  /** `exact` refuses a file of another size instead of resizing it. @default "stretch" */
  readonly resize?: 'stretch' | 'exact';
}

interface Rgba {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47];
const JPEG_MAGIC = [0xff, 0xd8, 0xff];

function startsWith(bytes: Uint8Array, magic: readonly number[]): boolean {
  return magic.every((value, index) => bytes[index] === value);
}

/** PNG's header holds the size at fixed offsets, so oversized files are refused unread. */
function pngSize(bytes: Uint8Array): { width: number; height: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return bytes.length >= 24
    ? { width: view.getUint32(16), height: view.getUint32(20) }
    : { width: 0, height: 0 };
}

function decode(bytes: Uint8Array): Rgba {
  if (startsWith(bytes, PNG_MAGIC)) {
    const { width, height } = pngSize(bytes);
    if (width * height > MAX_IMAGE_PIXELS) {
      throw new InputError(`the PNG is ${width}x${height}, over the ${MAX_IMAGE_PIXELS} pixels accepted`);
    }
    const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    return { width: png.width, height: png.height, data: png.data };
  }
  if (startsWith(bytes, JPEG_MAGIC)) {
    const image = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: true,
      maxResolutionInMP: MAX_IMAGE_PIXELS / (1024 * 1024),
      maxMemoryUsageInMB: 256,
    });
    return { width: image.width, height: image.height, data: image.data };
  }
  throw new InputError('the bytes are neither a PNG nor a JPEG file (no PNG or JPEG signature)');
}

/** Bilinear sample of one channel at a fractional source position. */
function sample(image: Rgba, x: number, y: number, channel: (at: number) => number): number {
  const x0 = Math.max(0, Math.min(image.width - 1, Math.floor(x)));
  const y0 = Math.max(0, Math.min(image.height - 1, Math.floor(y)));
  const x1 = Math.min(image.width - 1, x0 + 1);
  const y1 = Math.min(image.height - 1, y0 + 1);
  const fx = Math.max(0, Math.min(1, x - x0));
  const fy = Math.max(0, Math.min(1, y - y0));
  const at = (px: number, py: number) => channel((py * image.width + px) * 4);
  const top = at(x0, y0) * (1 - fx) + at(x1, y0) * fx;
  const bottom = at(x0, y1) * (1 - fx) + at(x1, y1) * fx;
  return top * (1 - fy) + bottom * fy;
}

/**
 * Decodes a PNG or JPEG file into the model's input values: `channels × height × width` numbers
 * from 0 to 255, channel-first. Transparent pixels are composed over white, as viewers show them.
 * Throws InputError saying why a file cannot be used.
 */
export function imageFileToPixels(bytes: Uint8Array, target: ImageTarget): number[] {
  let image: Rgba;
  try {
    image = decode(bytes);
  } catch (cause) {
    if (cause instanceof InputError) throw cause;
    throw new InputError(`the image cannot be decoded: ${(cause as Error).message}`, { cause });
  }
  if (image.width === 0 || image.height === 0) throw new InputError('the image has no pixels');
  if (target.resize === 'exact' && (image.width !== target.width || image.height !== target.height)) {
    throw new InputError(
      `the image is ${image.width}x${image.height} (width x height); this model takes exactly ${target.width}x${target.height} and does not resize`,
    );
  }
  const over = (at: number, offset: number) => {
    const alpha = (image.data[at + 3] as number) / 255;
    return (image.data[at + offset] as number) * alpha + 255 * (1 - alpha);
  };
  const grey = (at: number) => 0.299 * over(at, 0) + 0.587 * over(at, 1) + 0.114 * over(at, 2);
  const channels =
    target.channels === 1 ? [grey] : [0, 1, 2].map((offset) => (at: number) => over(at, offset));
  if (channels.length !== target.channels) {
    throw new InputError(
      `images can become 1 (grey) or 3 (RGB) channels; the model takes ${target.channels}`,
    );
  }
  const out: number[] = new Array<number>(target.channels * target.height * target.width);
  const scaleX = image.width / target.width;
  const scaleY = image.height / target.height;
  channels.forEach((channel, c) => {
    for (let y = 0; y < target.height; y++) {
      const sy = (y + 0.5) * scaleY - 0.5;
      for (let x = 0; x < target.width; x++) {
        const sx = (x + 0.5) * scaleX - 0.5;
        const value = sample(image, sx, sy, channel);
        out[(c * target.height + y) * target.width + x] = Math.max(0, Math.min(255, value));
      }
    }
  });
  return out;
}
