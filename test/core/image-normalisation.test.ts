/**
 * Image preprocessing as `model.json` declares it: resize, channel order, layout, mean and std.
 * Checked on PaddleOCR's text-direction classifier (a model trained elsewhere, with its own
 * normalisation) fed PNG files of real digit lines, and on small colour images whose every value
 * is known.
 */
import { PNG } from 'pngjs';
import { createBatchEncoder } from '../../core/inference/batch-encoding';
import { createInputValidator } from '../../core/inference/input-validation';
import { openSession } from '../../core/inference/onnx-session';
import { modelSpecSchema, type ModelSpec } from '../../core/model/model-spec';
import { digitLine, mnistDigits, paddleClsInput, resizedLine } from '../support/digit-strings';
import { PADDLE_CLS_ONNX, paddleClsSpec } from '../support/third-party-models';

/** A PNG of grey bytes (`height × width`), or of RGB triples when `rgb` is set. */
function png(width: number, height: number, values: ArrayLike<number>, rgb = false): string {
  const image = new PNG({ width, height });
  for (let p = 0; p < width * height; p++) {
    const [r, g, b] = rgb
      ? [values[p * 3], values[p * 3 + 1], values[p * 3 + 2]]
      : [values[p], values[p], values[p]];
    image.data.set([r as number, g as number, b as number, 255], p * 4);
  }
  return PNG.sync.write(image).toString('base64');
}

function sampleOf(spec: ModelSpec, input: unknown): { kind: 'image'; pixels: ArrayLike<number> } {
  const result = createInputValidator(spec)(input);
  if (!result.ok) throw new Error(result.problem.message);
  return result.sample as { kind: 'image'; pixels: ArrayLike<number> };
}

/** A 2x2 colour model of the given layout and order, with per-channel mean and std. */
function colourSpec(overrides: Record<string, unknown>): ModelSpec {
  const layout = (overrides['layout'] as string | undefined) ?? 'NCHW';
  return modelSpecSchema.parse({
    name: 'colour',
    task: 'image-classification',
    file: 'model.onnx',
    sha256: '0'.repeat(64),
    classes: ['a', 'b'],
    inputs: [
      { name: 'x', dtype: 'float32', shape: layout === 'NHWC' ? ['batch', 2, 2, 3] : ['batch', 3, 2, 2] },
    ],
    outputs: [{ name: 'y', dtype: 'float32', shape: ['batch', 2] }],
    preprocessing: {
      type: 'image',
      height: 2,
      width: 2,
      channels: 3,
      scale: 1 / 255,
      mean: [0.1, 0.2, 0.3],
      std: [0.5, 0.25, 2],
      layout,
      ...overrides,
    },
  });
}

describe('image preprocessing from model.json', () => {
  it("feeds PaddleOCR's classifier from PNG files exactly what its own pipeline computes, and it reads the lines' direction", async () => {
    // Given 16 real digit lines (odd ones upside down) as 48x192 PNG files
    const spec = paddleClsSpec();
    const split = await mnistDigits();
    const lines = Array.from({ length: 16 }, (_, i) => digitLine(split, i, { height: 44 }));
    const files = lines.map((line) => png(192, 48, resizedLine(line)));

    // When they pass the model's validation and encoding
    const encoder = createBatchEncoder(spec);
    const feeds = encoder.encode(files.map((image) => sampleOf(spec, { image })));

    // Then the tensor is PaddleOCR's own (v/255 - 0.5)/0.5 input for each line, to float precision
    const x = feeds['x']!;
    expect(x.dims).toEqual([16, 3, 48, 192]);
    const data = x.data as Float32Array;
    let worst = 0;
    lines.forEach((line, row) => {
      const expected = paddleClsInput(line);
      for (let i = 0; i < expected.length; i++)
        worst = Math.max(
          worst,
          Math.abs((data[row * expected.length + i] as number) - (expected[i] as number)),
        );
    });
    expect(worst).toBeLessThan(1e-6);

    // And the classifier tells upright from upside-down lines on most of them
    const session = await openSession(PADDLE_CLS_ONNX);
    try {
      const out = (await session.run(feeds))[session.outputNames[0]!]!.data;
      const right = lines.filter((line, i) => out[2 * i + 1]! > out[2 * i]! === line.upsideDown).length;
      expect(right).toBeGreaterThanOrEqual(lines.length * 0.6);
    } finally {
      await session.release();
    }
  });

  it('applies mean and std per channel, in the declared channel order and layout', () => {
    // Given a 2x2 colour PNG whose pixels are (10,20,30), (40,50,60), (70,80,90), (100,110,120)
    const rgb = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120];
    const file = { image: png(2, 2, rgb, true) };
    const normalised = (v: number, c: number) => (v / 255 - [0.1, 0.2, 0.3][c]!) / [0.5, 0.25, 2][c]!;
    const cases: [Record<string, unknown>, number[], number[]][] = [
      // channel-first RGB: the red plane, then green, then blue
      [{}, [3, 2, 2], [0, 1, 2].flatMap((c) => [0, 1, 2, 3].map((p) => normalised(rgb[p * 3 + c]!, c)))],
      // channel-last RGB: each pixel's three values together
      [
        { layout: 'NHWC' },
        [2, 2, 3],
        [0, 1, 2, 3].flatMap((p) => [0, 1, 2].map((c) => normalised(rgb[p * 3 + c]!, c))),
      ],
      // channel-first BGR: the blue plane first, normalised with the first mean and std
      [
        { channelOrder: 'BGR' },
        [3, 2, 2],
        [0, 1, 2].flatMap((c) => [0, 1, 2, 3].map((p) => normalised(rgb[p * 3 + (2 - c)]!, c))),
      ],
    ];
    for (const [overrides, dims, expected] of cases) {
      const spec = colourSpec(overrides);
      const feeds = createBatchEncoder(spec).encode([sampleOf(spec, file)]);
      // Then every value is (v/255 - mean[c]) / std[c] at its place in the layout
      expect(feeds['x']!.dims).toEqual([1, ...dims]);
      Array.from(feeds['x']!.data as Float32Array).forEach((value, i) =>
        expect(value).toBeCloseTo(expected[i]!, 5),
      );
    }
  });

  it('refuses a model.json whose normalisation or shape does not fit, saying what is allowed', () => {
    expect(() => colourSpec({ mean: [0.5] })).toThrow(/mean must hold one value per channel \(3\); got 1/);
    expect(() => colourSpec({ std: [1, 0, 1] })).toThrow(/std values must not be 0/);
    expect(() => colourSpec({ channels: 4 })).toThrow(/channels must be 1 \(grey\) or 3 \(colour\)/);
    expect(() => colourSpec({ layout: 'CHW' })).toThrow(/NCHW.*NHWC|NHWC.*NCHW/);
    const wrongLayout = {
      ...colourSpec({}),
      preprocessing: { ...colourSpec({}).preprocessing, layout: 'NHWC' as const },
    };
    expect(() => createBatchEncoder(wrongLayout)).toThrow(
      /input x has shape \[batch, 3, 2, 2\], but its preprocessing \(NHWC\) describes \[batch, 2, 2, 3\]/,
    );
  });

  it('resizes a file of another size by default, and refuses it when model.json sets resize "exact"', () => {
    // Given a 4x4 colour PNG for a 2x2 model
    const file = {
      image: png(
        4,
        4,
        Array.from({ length: 48 }, (_, i) => i * 5),
        true,
      ),
    };

    // Then the stretching model takes it, and the exact one refuses it naming both sizes
    expect(sampleOf(colourSpec({}), file).pixels).toHaveLength(12);
    const refused = createInputValidator(colourSpec({ resize: 'exact' }))(file);
    expect(refused.ok).toBe(false);
    expect(refused.ok ? '' : refused.problem.message).toMatch(
      /the image is 4x4 \(width x height\); this model takes exactly 2x2 and does not resize/,
    );
  });
});
