import { join } from 'node:path';
import { InputError } from '../../core/errors';
import { analyzeGraph, type GraphAnalysis } from '../../core/onnx/graph-analysis';
import { decodeOnnxModel, encodeOnnxModel, readOnnxModel, type OnnxModel } from '../../core/onnx/onnx-model';
import { sliceModel } from '../../core/onnx/slicing';
import { SeededRandom } from '../../core/util/random';
import { ZOO_DIR } from '../../core/zoo/fixtures';
import { floats, maxAbsDiff, runChain } from './fixture-runs';
import { lateConvModel, mlpModel } from './tiny-models';

/** The tiny torchvision-style exports `zoo/recipes/family_graphs.py` writes. */
async function family(name: string): Promise<{ model: OnnxModel; analysis: GraphAnalysis }> {
  const model = await readOnnxModel(join(ZOO_DIR, 'families', `${name}.onnx`));
  return { model, analysis: await analyzeGraph(model) };
}

/** Chains the segments of the all-candidates cut and compares with the whole model on 3 random images. */
async function sliceError(model: OnnxModel, analysis: GraphAnalysis): Promise<number> {
  const input = analysis.tensors.get(analysis.primaryInput)!;
  const dims = [3, ...input.unitShape.slice(1)];
  const random = new SeededRandom(21);
  const data = Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => random.normal());
  const batch = { [analysis.primaryInput]: { dtype: 'float32' as const, data, dims } };
  const segments = sliceModel(model, analysis, { candidateIds: analysis.candidates.map((c) => c.id) });
  const [whole] = await runChain([encodeOnnxModel(model)], [batch]);
  const [chained] = await runChain(
    segments.map((segment) => segment.bytes),
    [batch],
  );
  const output = analysis.outputs[0]!;
  return maxAbsDiff(floats(chained!, output).data, floats(whole!, output).data);
}

function expectOrderedAndUseful(analysis: GraphAnalysis): void {
  const fractions = analysis.candidates.map((c) => c.costFraction);
  fractions.forEach((fraction, index) => {
    expect(fraction).toBeGreaterThan(index === 0 ? 0 : fractions[index - 1]!);
    expect(fraction).toBeLessThan(0.98);
  });
}

describe('candidates on the common classifier families', () => {
  it('VGG-style plain chain: one candidate per convolution, conv stages ending after their pooling', async () => {
    // Given a VGG-11-style chain (8 convolutions in 5 pooled stages), without merges or composite numbered modules
    const { model, analysis } = await family('vgg');

    // Then candidates follow the convolutions, through their ReLU and any pooling
    expect(analysis.candidateStrategy).toBe('conv-chain');
    expect(analysis.candidates.length).toBeGreaterThanOrEqual(5);
    const ops = analysis.candidates.map((c) => analysis.nodes[c.position]!.opType);
    expect(ops.filter((op) => op === 'MaxPool').length).toBeGreaterThanOrEqual(3);
    expect(new Set(ops)).toEqual(new Set(['MaxPool', 'Relu']));
    expect(analysis.candidates.every((c) => c.kind === 'image')).toBe(true);
    expectOrderedAndUseful(analysis);
    // And the model cut at all of them still computes the same logits
    expect(await sliceError(model, analysis)).toBeLessThanOrEqual(1e-5);
  });

  it('MobileNetV2: one candidate per inverted-residual block, with or without a skip, starting early', async () => {
    // Given torchvision's MobileNetV2 (numbered blocks features.N, layers conv.N inside them)
    const { model, analysis } = await family('mobilenet-v2');

    // Then every candidate ends a numbered block, not a layer inside one
    expect(analysis.candidateStrategy).toBe('module-paths');
    const blocks = analysis.candidates.map((c) => /\/features\/features\.(\d+)\//.exec(c.tensor)?.[1]);
    expect(blocks).toEqual(blocks.map((_, index) => String(index)));
    expect(analysis.candidates.some((c) => c.tensor.endsWith('/conv/conv.2/Conv_output_0'))).toBe(true);
    expect(analysis.candidates.some((c) => c.tensor.endsWith('/Add_output_0'))).toBe(true);
    // And the first sits after the stem, early in the model's work
    expect(analysis.candidates[0]!.costFraction).toBeLessThanOrEqual(0.35);
    expect(analysis.candidates.length).toBeGreaterThanOrEqual(5);
    expectOrderedAndUseful(analysis);
    expect(await sliceError(model, analysis)).toBeLessThanOrEqual(1e-5);
  });

  it('ViT: one candidate per encoder layer (the hidden state after its second residual add)', async () => {
    // Given torchvision's VisionTransformer with 4 encoder layers named encoder_layer_0..3
    const { model, analysis } = await family('vit');

    // Then each layer but the last (where only the head remains) offers exactly its output
    expect(analysis.candidateStrategy).toBe('module-paths');
    expect(analysis.candidates.map((c) => c.tensor)).toEqual(
      [0, 1, 2].map((layer) => `/encoder/layers/encoder_layer_${layer}/Add_1_output_0`),
    );
    expect(analysis.candidates.every((c) => c.kind === 'sequence')).toBe(true);
    expectOrderedAndUseful(analysis);
    expect(await sliceError(model, analysis)).toBeLessThanOrEqual(1e-5);
  });

  it('DenseNet: a candidate after each dense block concatenation that a transition follows', async () => {
    // Given torchvision's DenseNet with three dense blocks (their layers need every earlier output)
    const { model, analysis } = await family('densenet');

    // Then candidates sit where a block's concatenation has joined everything, through the transition's norm and ReLU
    expect(analysis.candidateStrategy).toBe('merge-points');
    expect(analysis.candidates.map((c) => c.tensor)).toEqual([
      '/features/transition1/relu/Relu_output_0',
      '/features/transition2/relu/Relu_output_0',
    ]);
    expectOrderedAndUseful(analysis);
    expect(await sliceError(model, analysis)).toBeLessThanOrEqual(1e-5);
  });
});

describe('refusals that say what was found', () => {
  it('names the rank-2 activation of a plain MLP', async () => {
    const error = await analyzeGraph(decodeOnnxModel(mlpModel())).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toMatch(
      /^model has no candidate position: the \d+ points crossed by a single activation tensor carry none of rank 4 .* \(found float32\[batch,16\]\)/,
    );
  });

  it('names the block ends that lie too late for an exit to save anything', async () => {
    const error = await analyzeGraph(decodeOnnxModel(lateConvModel())).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toMatch(
      /^model has no candidate position: the 2 block ends it has \(float32\[batch,64,16,16\], float32\[batch,2,16,16\]\) all lie at 98% of its multiply-accumulates or later/,
    );
  });
});
