import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { createBatchEncoder } from '../../core/inference/batch-encoding';
import { createInputValidator } from '../../core/inference/input-validation';
import { openSession } from '../../core/inference/onnx-session';
import { loadFixtureModel } from '../../core/zoo/fixtures';
import { mnistDigits } from '../support/digit-strings';

/** A grey PNG of `size`x`size` from a 28x28 digit, scaled up by nearest neighbour. */
function digitPng(pixels: Uint8Array, size = 28): Buffer {
  const png = new PNG({ width: size, height: size, colorType: 0, inputColorType: 0, bitDepth: 8 });
  const rgba = Buffer.alloc(size * size * 4);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const v = pixels[Math.floor((y * 28) / size) * 28 + Math.floor((x * 28) / size)] as number;
      rgba.set([v, v, v, 255], (y * size + x) * 4);
    }
  }
  png.data = rgba;
  return PNG.sync.write(png, { colorType: 0, inputColorType: 6 });
}

function digitJpeg(pixels: Uint8Array, size: number): Buffer {
  const data = Buffer.alloc(size * size * 4);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const v = pixels[Math.floor((y * 28) / size) * 28 + Math.floor((x * 28) / size)] as number;
      data.set([v, v, v, 255], (y * size + x) * 4);
    }
  }
  return jpeg.encode({ data, width: size, height: size }, 95).data;
}

describe('image files as model inputs', () => {
  it('reads a 28x28 PNG of a digit as exactly the grey values an array would carry', async () => {
    // Given an MNIST digit written as a grey PNG, sent base64 as {"image": ...}
    const split = await mnistDigits();
    const model = await loadFixtureModel('mnist-resnet');
    const validate = createInputValidator(model.spec);
    const pixels = split.pixels.subarray(0, 784);
    const result = validate({ image: digitPng(pixels).toString('base64') });

    // Then the validated sample holds the digit's own values
    expect(result.ok).toBe(true);
    const sample = result.ok ? result.sample : undefined;
    expect(sample?.kind).toBe('image');
    const decoded = Array.from((sample as { pixels: ArrayLike<number> }).pixels);
    expect(decoded).toHaveLength(784);
    decoded.forEach((value, i) => expect(value).toBeCloseTo(pixels[i] as number, 3));
  });

  it('resizes larger PNG and JPEG files to the model size, and the model reads the same digits', async () => {
    // Given 20 digits as 56x56 PNGs and as 84x84 JPEGs (a data: URL prefix on the JPEGs)
    const split = await mnistDigits();
    const model = await loadFixtureModel('mnist-resnet');
    const validate = createInputValidator(model.spec);
    const encoder = createBatchEncoder(model.spec);
    const session = await openSession(model.onnxPath);
    const predict = async (samples: { kind: 'image'; pixels: ArrayLike<number> }[]) => {
      const out = (await session.run(encoder.encode(samples)))[session.outputNames[0]!]!.data;
      return samples.map((_, row) => {
        const logits = Array.from(out.subarray(row * 10, row * 10 + 10));
        return logits.indexOf(Math.max(...logits));
      });
    };
    try {
      const arrays = Array.from({ length: 20 }, (_, i) => split.pixels.subarray(i * 784, (i + 1) * 784));
      const fromFiles = (bytes: (p: Uint8Array) => string) =>
        arrays.map((p) => {
          const result = validate({ image: bytes(p) });
          if (!result.ok) throw new Error(result.problem.message);
          return result.sample as { kind: 'image'; pixels: ArrayLike<number> };
        });
      const direct = await predict(arrays.map((pixels) => ({ kind: 'image' as const, pixels })));
      const png = await predict(fromFiles((p) => digitPng(p, 56).toString('base64')));
      const jpg = await predict(
        fromFiles((p) => `data:image/jpeg;base64,${digitJpeg(p, 84).toString('base64')}`),
      );

      // Then the model's answers on the files agree with its answers on the arrays
      const agree = (a: number[]) => a.filter((label, i) => label === direct[i]).length;
      expect(agree(png)).toBeGreaterThanOrEqual(19);
      expect(agree(jpg)).toBeGreaterThanOrEqual(18);
    } finally {
      await session.release();
    }
  });

  it.each([
    ['text that is not base64', { image: 'not base64!' }, /it is not base64/],
    [
      'bytes that are no image',
      { image: Buffer.from('hello world').toString('base64') },
      /neither a PNG nor a JPEG/,
    ],
    [
      'a truncated PNG',
      { image: digitPng(new Uint8Array(784)).subarray(0, 40).toString('base64') },
      /cannot be decoded/,
    ],
    ['an image with other fields', { image: 'AAAA', width: 28 }, /must be \{"image": .*\} and nothing else/],
  ])('refuses %s, saying what is allowed', async (_what, input, message) => {
    const model = await loadFixtureModel('mnist-resnet');
    const result = createInputValidator(model.spec)(input);
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.problem.message).toMatch(message);
  });

  it('refuses an oversized PNG from its header, before decoding it', async () => {
    // Given a PNG header claiming 5000x5000 pixels (25 MP)
    const header = digitPng(new Uint8Array(784));
    const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
    view.setUint32(16, 5000);
    view.setUint32(20, 5000);
    const model = await loadFixtureModel('mnist-resnet');
    const result = createInputValidator(model.spec)({ image: header.toString('base64') });
    expect(result.ok ? '' : result.problem.message).toMatch(
      /the PNG is 5000x5000, over the 16777216 pixels accepted/,
    );
  });
});
