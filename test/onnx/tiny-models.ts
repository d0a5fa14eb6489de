/**
 * Tiny ONNX graphs built in the tests themselves, for the cases the fixture models do not cover:
 * unnamed nodes (the merge-point rule), a Shape-derived side tensor, a second graph output, a fixed
 * batch axis, a model with nothing to cut.
 */
import { onnx } from 'onnx-proto';
import { encodeOnnxModel } from '../../core/onnx/onnx-model';
import { floatTensor, int64Tensor, makeNode } from '../../core/onnx/graph-builder';
import { makeValueInfo, type Dimension } from '../../core/onnx/tensor-types';
import { SeededRandom } from '../../core/util/random';

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

function randomFloats(random: SeededRandom, count: number, scale = 0.5): Float32Array {
  return Float32Array.from({ length: count }, () => random.normal() * scale);
}

function model(graph: onnx.IGraphProto): Uint8Array {
  return encodeOnnxModel({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'test',
    graph,
  });
}

export const RESIDUAL = { tokens: 4, hidden: 8, classes: 3, blocks: 3 } as const;

/**
 * `x` float [batch,4,8] and `mask` int64 [batch,4] → `logits` [batch,3] and `aux` [batch,4,8].
 * Three residual blocks `h = Relu(h + (h·W + maskBias))` with unnamed nodes; the mask bias is a side
 * tensor used by every block; the final Reshape takes the batch size from Shape(x), a side tensor
 * crossing every cut; `aux` = Sigmoid of the first block's output is a second graph output finished
 * early. When `declareShapes` is given, value_info declares every intermediate with that batch name.
 */
export function residualSequenceModel(declareShapes?: string): Uint8Array {
  const { tokens, hidden, classes, blocks } = RESIDUAL;
  const random = new SeededRandom(11);
  const nodes: onnx.INodeProto[] = [];
  const initializers: onnx.ITensorProto[] = [];
  const shapes: [string, Dimension[]][] = [];
  const batch = declareShapes ?? 'batch';
  const add = (op: string, inputs: string[], output: string, shape: Dimension[], attributes = {}) => {
    nodes.push(makeNode(op, inputs, [output], '', attributes));
    shapes.push([output, shape]);
  };
  initializers.push(int64Tensor('index0', [1], [0]), int64Tensor('minus1', [1], [-1]));
  initializers.push(
    floatTensor('one', [], Float32Array.of(1)),
    floatTensor('neg100', [], Float32Array.of(-100)),
  );
  initializers.push(int64Tensor('bias_shape', [3], [0, tokens, 1]));
  add('Shape', ['x'], 'x_shape', [3]);
  add('Gather', ['x_shape', 'index0'], 'batch_size', [1], { axis: 0 });
  add('Concat', ['batch_size', 'minus1'], 'flat_shape', [2], { axis: 0 });
  add('Cast', ['mask'], 'mask_float', [batch, tokens], { to: FLOAT });
  add('Sub', ['one', 'mask_float'], 'mask_off', [batch, tokens]);
  add('Mul', ['mask_off', 'neg100'], 'mask_bias_flat', [batch, tokens]);
  add('Reshape', ['mask_bias_flat', 'bias_shape'], 'mask_bias', [batch, tokens, 1]);
  let h = 'x';
  for (let block = 0; block < blocks; block++) {
    initializers.push(floatTensor(`w${block}`, [hidden, hidden], randomFloats(random, hidden * hidden)));
    add('MatMul', [h, `w${block}`], `mm${block}`, [batch, tokens, hidden]);
    add('Add', [`mm${block}`, 'mask_bias'], `biased${block}`, [batch, tokens, hidden]);
    add('Add', [h, `biased${block}`], `sum${block}`, [batch, tokens, hidden]);
    add('Relu', [`sum${block}`], `h${block}`, [batch, tokens, hidden]);
    h = `h${block}`;
    if (block === 0) add('Sigmoid', [h], 'aux', [batch, tokens, hidden]);
  }
  initializers.push(
    floatTensor('wc', [tokens * hidden, classes], randomFloats(random, tokens * hidden * classes)),
  );
  initializers.push(floatTensor('bc', [classes], randomFloats(random, classes)));
  add('Reshape', [h, 'flat_shape'], 'flat', [batch, tokens * hidden]);
  add('Gemm', ['flat', 'wc', 'bc'], 'logits', [batch, classes]);
  const declared = new Set(['logits', 'aux']);
  return model({
    name: 'residual',
    node: nodes,
    initializer: initializers,
    input: [
      makeValueInfo('x', FLOAT, [batch, tokens, hidden]),
      makeValueInfo('mask', INT64, [batch, tokens]),
    ],
    output: [
      makeValueInfo('logits', FLOAT, [batch, classes]),
      makeValueInfo('aux', FLOAT, [batch, tokens, hidden]),
    ],
    valueInfo: declareShapes
      ? shapes
          .filter(([name]) => !declared.has(name))
          .map(([name, shape]) =>
            makeValueInfo(
              name,
              name === 'x_shape' || name === 'batch_size' || name === 'flat_shape' ? INT64 : FLOAT,
              shape,
            ),
          )
      : [],
  });
}

/** One Relu over an input whose first dimension is fixed at 4. */
export function fixedBatchModel(): Uint8Array {
  return model({
    name: 'fixed',
    node: [makeNode('Relu', ['x'], ['y'], 'relu')],
    input: [makeValueInfo('x', FLOAT, [4, 8])],
    output: [makeValueInfo('y', FLOAT, [4, 8])],
  });
}

/** A lone Gemm: a classifier with no point between input and output to cut at. */
export function loneGemmModel(): Uint8Array {
  const random = new SeededRandom(5);
  return model({
    name: 'gemm',
    node: [makeNode('Gemm', ['x', 'w', 'b'], ['y'], 'gemm')],
    initializer: [
      floatTensor('w', [8, 3], randomFloats(random, 24)),
      floatTensor('b', [3], randomFloats(random, 3)),
    ],
    input: [makeValueInfo('x', FLOAT, ['batch', 8])],
    output: [makeValueInfo('y', FLOAT, ['batch', 3])],
  });
}

/** A valid ONNX header with no graph, and one with an empty graph. */
export function graphlessModels(): { noGraph: Uint8Array; noNodes: Uint8Array } {
  const header = { irVersion: 8, opsetImport: [{ domain: '', version: 17 }] };
  return {
    noGraph: encodeOnnxModel(header),
    noNodes: encodeOnnxModel({
      ...header,
      graph: { name: 'empty', input: [makeValueInfo('x', FLOAT, ['batch', 2])] },
    }),
  };
}

/** Two Gemm layers with a Relu between: cuttable, but only at a rank-2 activation no ramp pools. */
export function mlpModel(): Uint8Array {
  const random = new SeededRandom(6);
  return model({
    name: 'mlp',
    node: [
      makeNode('Gemm', ['x', 'w1', 'b1'], ['h'], 'fc1'),
      makeNode('Relu', ['h'], ['a'], 'relu'),
      makeNode('Gemm', ['a', 'w2', 'b2'], ['y'], 'fc2'),
    ],
    initializer: [
      floatTensor('w1', [8, 16], randomFloats(random, 128)),
      floatTensor('b1', [16], randomFloats(random, 16)),
      floatTensor('w2', [16, 3], randomFloats(random, 48)),
      floatTensor('b2', [3], randomFloats(random, 3)),
    ],
    input: [makeValueInfo('x', FLOAT, ['batch', 8])],
    output: [makeValueInfo('y', FLOAT, ['batch', 3])],
  });
}

/**
 * A wide 5x5 convolution on a 16x16 image, then a 1x1 convolution to 2 channels and global pooling:
 * its only conv unit ends after nearly all its work, where an exit would save nothing.
 */
export function lateConvModel(): Uint8Array {
  const random = new SeededRandom(8);
  return model({
    name: 'late-conv',
    node: [
      makeNode('Conv', ['x', 'w1'], ['c1'], 'conv1', { pads: [2, 2, 2, 2] }),
      makeNode('Relu', ['c1'], ['r1'], 'relu1'),
      makeNode('Conv', ['r1', 'w2'], ['c2'], 'conv2'),
      makeNode('GlobalAveragePool', ['c2'], ['p'], 'pool'),
      makeNode('Flatten', ['p'], ['y'], 'flatten'),
    ],
    initializer: [
      floatTensor('w1', [64, 8, 5, 5], randomFloats(random, 64 * 8 * 25)),
      floatTensor('w2', [2, 64, 1, 1], randomFloats(random, 2 * 64)),
    ],
    input: [makeValueInfo('x', FLOAT, ['batch', 8, 16, 16])],
    output: [makeValueInfo('y', FLOAT, ['batch', 2])],
  });
}
