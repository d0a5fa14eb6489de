import { analyzeGraph } from '../../core/onnx/graph-analysis';
import { decodeOnnxModel, encodeOnnxModel } from '../../core/onnx/onnx-model';
import { sliceModel } from '../../core/onnx/slicing';
import { SeededRandom } from '../../core/util/random';
import { InputError } from '../../core/errors';
import { floats, maxAbsDiff, runChain } from './fixture-runs';
import { RESIDUAL, residualSequenceModel } from './tiny-models';

describe('sliceModel on a graph with side tensors and two outputs', () => {
  it('hands the mask bias, the Shape-derived target and the early second output along to the last segment', async () => {
    // Given the tiny residual model cut at all three blocks
    const model = decodeOnnxModel(residualSequenceModel());
    const analysis = await analyzeGraph(model);
    const segments = sliceModel(model, analysis, { candidateIds: ['c2', 'c0', 'c1'] });

    // Then segments take only what they need and pass along what later ones need
    expect(segments.map((segment) => segment.inputs)).toEqual([
      ['x', 'mask'],
      ['h0', 'flat_shape', 'mask_bias'],
      ['h1', 'flat_shape', 'mask_bias', 'aux'],
      ['h2', 'flat_shape', 'aux'],
    ]);
    expect(segments.map((segment) => segment.outputs)).toEqual([
      ['h0', 'flat_shape', 'mask_bias'],
      ['h1', 'flat_shape', 'mask_bias', 'aux'],
      ['h2', 'flat_shape', 'aux'],
      ['logits', 'aux'],
    ]);

    // And chained they reproduce both outputs for a batch of 5 with partly masked tokens
    const random = new SeededRandom(3);
    const count = 5 * RESIDUAL.tokens * RESIDUAL.hidden;
    const batch = {
      x: {
        dtype: 'float32' as const,
        data: Float32Array.from({ length: count }, () => random.normal()),
        dims: [5, RESIDUAL.tokens, RESIDUAL.hidden],
      },
      mask: {
        dtype: 'int64' as const,
        data: BigInt64Array.from({ length: 5 * RESIDUAL.tokens }, (_, i) => (i % 3 === 0 ? 0n : 1n)),
        dims: [5, RESIDUAL.tokens],
      },
    };
    const [whole] = await runChain([encodeOnnxModel(model)], [batch]);
    const [chained] = await runChain(
      segments.map((segment) => segment.bytes),
      [batch],
    );
    for (const output of ['logits', 'aux']) {
      expect(maxAbsDiff(floats(chained!, output).data, floats(whole!, output).data)).toBeLessThanOrEqual(
        1e-6,
      );
    }
  });

  it('refuses unknown candidates, infeasible positions and repeated cuts with the allowed values', async () => {
    const model = decodeOnnxModel(residualSequenceModel());
    const analysis = await analyzeGraph(model);
    expect(() => sliceModel(model, analysis, { candidateIds: ['c7'] })).toThrow(InputError);
    expect(() => sliceModel(model, analysis, { candidateIds: ['c7'] })).toThrow(
      /unknown candidate c7; this model's candidates are c0, c1, c2/,
    );
    expect(() => sliceModel(model, analysis, { positions: [0] })).toThrow(
      /position 0 is not a feasible cut of this model; feasible positions are/,
    );
    expect(() => sliceModel(model, analysis, { candidateIds: ['c1', 'c1'] })).toThrow(/given twice/);
  });
});
