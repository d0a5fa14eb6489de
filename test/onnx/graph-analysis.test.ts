import { analyzeGraph } from '../../core/onnx/graph-analysis';
import { cloneOnnxModel, decodeOnnxModel } from '../../core/onnx/onnx-model';
import { analysedFixture } from './fixture-runs';
import { RESIDUAL, residualSequenceModel } from './tiny-models';

describe('analyzeGraph on the fixture models', () => {
  it('offers one candidate per residual block of mnist-resnet, with image shapes and growing cost', async () => {
    // Given the trained MNIST ResNet (stem, 9 BasicBlocks in 3 stages, GAP, Linear)
    const { analysis } = await analysedFixture('mnist-resnet');

    // Then there are exactly 8 candidates, one per block but the last (an exit after the last block
    // would skip only the pooling and the linear head, saving nothing), named after the numbered modules
    const candidates = analysis.candidates;
    expect(analysis.candidateStrategy).toBe('module-paths');
    expect(candidates.map((c) => c.id)).toEqual(['c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7']);
    candidates.forEach((candidate, index) => {
      expect(candidate.kind).toBe('image');
      expect(candidate.dtype).toBe('float32');
      expect(candidate.tensor).toContain(`blocks.${index}/`);
      expect(candidate.costFraction).toBeGreaterThan(0);
      expect(candidate.costFraction).toBeLessThan(1);
      expect(candidate.sideTensors).toEqual([]);
    });
    // And positions and costs increase, with the stage widths and strides in the shapes
    for (let i = 1; i < candidates.length; i++) {
      expect(candidates[i]!.position).toBeGreaterThan(candidates[i - 1]!.position);
      expect(candidates[i]!.costFraction).toBeGreaterThan(candidates[i - 1]!.costFraction);
    }
    expect(candidates[0]!.shape).toEqual(['batch', 32, 28, 28]);
    expect(candidates[3]!.shape).toEqual(['batch', 64, 14, 14]);
    expect(candidates[7]!.shape).toEqual(['batch', 128, 7, 7]);
    expect(candidates[7]!.costFraction).toBeLessThan(0.98);
    expect(analysis.primaryInput).toBe('pixels');
    expect(analysis.sideInputs).toEqual([]);
    expect(analysis.outputs).toEqual(['logits']);
    // And every candidate is also a feasible position
    const feasible = new Set(analysis.feasiblePositions.map((cut) => cut.position));
    for (const candidate of candidates) expect(feasible.has(candidate.position)).toBe(true);
  });

  it('offers the hidden state after each encoder layer of spam-bert, carrying the mask bias', async () => {
    // Given the trained 6-layer post-LN text encoder with an attention mask input
    const { analysis } = await analysedFixture('spam-bert');

    // Then there are exactly 5 candidates: each layer's final LayerNormalization output but the last's,
    // where only the classifier head remains and an exit saves nothing
    const candidates = analysis.candidates;
    expect(candidates).toHaveLength(5);
    candidates.forEach((candidate, index) => {
      expect(candidate.kind).toBe('sequence');
      expect(candidate.shape).toEqual(['batch', 128, 128]);
      expect(candidate.tensor).toMatch(new RegExp(`layers\\.${index}/.*LayerNormalization`));
      expect(candidate.costFraction).toBeGreaterThan(0);
      expect(candidate.costFraction).toBeLessThan(1);
    });
    for (let i = 1; i < candidates.length; i++) {
      expect(candidates[i]!.position).toBeGreaterThan(candidates[i - 1]!.position);
      expect(candidates[i]!.costFraction).toBeGreaterThan(candidates[i - 1]!.costFraction);
    }
    // And the additive mask bias, computed once from attention_mask, crosses every cut a later layer needs it at
    expect(analysis.primaryInput).toBe('input_ids');
    expect(analysis.sideInputs).toEqual(['attention_mask']);
    expect(analysis.attentionMask).toEqual({ name: 'attention_mask', elemType: 7, length: 128 });
    const bias = candidates[0]!.sideTensors;
    expect(bias).toHaveLength(1);
    expect(analysis.tensors.get(bias[0]!)?.shape).toEqual(['batch', 1, 1, 128]);
    for (const candidate of candidates) expect(candidate.sideTensors).toEqual(bias);
    // (after the last layer no layer reads the bias any more, so only the activation crosses there)
    const last = analysis.feasiblePositions.at(-1)!;
    expect(last.position).toBeGreaterThan(candidates[4]!.position);
    expect(last.sideTensors).toEqual([]);
  });
});

describe('analyzeGraph on graphs without module names', () => {
  it('finds the same 9 block outputs of mnist-resnet from its residual merges when node names are stripped', async () => {
    // Given the MNIST ResNet with every node name removed
    const { model, analysis: named } = await analysedFixture('mnist-resnet');
    const anonymous = cloneOnnxModel(model);
    for (const node of anonymous.graph?.node ?? []) node.name = '';

    // When it is analysed
    const analysis = await analyzeGraph(anonymous);

    // Then the residual Add + Relu rule lands on the same positions the module names gave
    expect(analysis.candidateStrategy).toBe('merge-points');
    expect(analysis.candidates.map((c) => c.position)).toEqual(named.candidates.map((c) => c.position));
  });

  it('falls back to merge points extended through activations, treating Shape and mask results as side tensors', async () => {
    // Given three unnamed residual blocks, a mask bias used by each, a Shape-derived reshape target and a second output
    const model = decodeOnnxModel(residualSequenceModel());

    // When it is analysed
    const analysis = await analyzeGraph(model);

    // Then each block's output after its Relu is a candidate
    expect(analysis.candidateStrategy).toBe('merge-points');
    expect(analysis.candidates.map((c) => c.tensor)).toEqual(['h0', 'h1', 'h2']);
    for (const candidate of analysis.candidates) {
      expect(candidate.shape).toEqual(['batch', RESIDUAL.tokens, RESIDUAL.hidden]);
      expect(candidate.kind).toBe('sequence');
    }
    // And side tensors (mask bias, reshape target) and the early second output cross as passengers
    const [first, second, last] = analysis.candidates;
    expect(first!.sideTensors).toEqual(['flat_shape', 'mask_bias']);
    expect(second!.sideTensors).toEqual(['flat_shape', 'mask_bias', 'aux']);
    expect(last!.sideTensors).toEqual(['flat_shape', 'aux']);
    expect(analysis.tensors.get('flat_shape')?.shape).toEqual([2]);
    expect(analysis.tensors.get('mask_bias')?.shape).toEqual(['batch', RESIDUAL.tokens, 1]);
    expect(analysis.outputs).toEqual(['logits', 'aux']);
  });

  it('takes shapes from complete value_info instead of running the model', async () => {
    // Given the same graph with every intermediate declared, batch named N
    const model = decodeOnnxModel(residualSequenceModel('N'));

    // When it is analysed
    const analysis = await analyzeGraph(model);

    // Then the declared symbolic name is reported, which a probe run could not have produced
    expect(analysis.candidates.map((c) => c.shape)).toEqual([
      ['N', RESIDUAL.tokens, RESIDUAL.hidden],
      ['N', RESIDUAL.tokens, RESIDUAL.hidden],
      ['N', RESIDUAL.tokens, RESIDUAL.hidden],
    ]);
  });
});
