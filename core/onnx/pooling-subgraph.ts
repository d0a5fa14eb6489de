/**
 * The pooling part of a ramp as ONNX nodes. Both the feature-capture model (which records training
 * features from the plain model) and the deployed ramp are built from this one function, so the
 * features a ramp was trained on and the features it sees while serving are computed by the same
 * operators on the same constants.
 *
 * Only operators whose meaning has not changed across opsets 8..21 are used (Reshape, MatMul,
 * GlobalAveragePool, AveragePool without padding, Gather, Cast, Max, Div, Concat), so the
 * subgraph fits into any model it is attached to:
 * - image average pooling to a g×g grid is, where g divides H and W, a pooling operator
 *   (GlobalAveragePool for 1×1, AveragePool with an (H/g)×(W/g) window and stride otherwise);
 *   elsewhere a MatMul of the [B,C,H·W] activation with a constant [H·W, g·g] matrix holding
 *   PyTorch's exact adaptive-pooling regions (any H, W, even H < g). Both compute the same means.
 *   The pooling operators are preferred because onnxruntime runs them in the blocked layout it
 *   keeps convolutions' outputs in, so only the pooled [B,C,g,g] is reordered back, not the whole
 *   activation: on mnist-resnet at batch 8 the MatMul and the reorder before it took 110–170 µs of
 *   a tapped exit's 150–230 µs (its per-operator profile, docs/benchmarks.md);
 * - token 0 is a Gather on the sequence axis;
 * - the masked mean is the mask row vector times the activation divided by the mask's sum
 *   (at least 1, so an all-padding row gives zeros instead of NaN); without a mask it is a plain
 *   mean over all positions.
 */
import type { onnx } from 'onnx-proto';
import { floatTensor, int64Tensor, makeNode } from './graph-builder';
import { memberDims, type RampMember } from './ramp-members';
import type { Dimension } from './tensor-types';

/** What to pool and where the nodes go: the inputs of `poolingSubgraph`. */
export interface PoolingRequest {
  /** Activation tensor name, shape and ONNX element type. */
  readonly activation: string;
  readonly shape: readonly Dimension[];
  readonly elemType: number;
  readonly member: RampMember;
  /** Name of the attention-mask tensor [B,T] for mean pooling; absent for an unmasked mean. */
  readonly mask?: string;
  /** Prefix making every node, tensor and initializer name unique within the host graph. */
  readonly prefix: string;
  /** Name of the pooled features [B, featureSize]. */
  readonly output: string;
}

/** Nodes and initializers to append to a host graph (the nodes are in topological order). */
export interface Subgraph {
  readonly nodes: onnx.INodeProto[];
  readonly initializers: onnx.ITensorProto[];
}

/**
 * The [H·W, g·g] matrix of adaptive average pooling: cell (i, j) averages rows
 * floor(i·H/g)..ceil((i+1)·H/g)-1 and columns floor(j·W/g)..ceil((j+1)·W/g)-1, as PyTorch's
 * AdaptiveAvgPool2d does.
 */
export function adaptivePoolingMatrix(height: number, width: number, grid: number): Float32Array {
  const cells = grid * grid;
  const matrix = new Float32Array(height * width * cells);
  for (let i = 0; i < grid; i++) {
    const top = Math.floor((i * height) / grid);
    const bottom = Math.ceil(((i + 1) * height) / grid);
    for (let j = 0; j < grid; j++) {
      const left = Math.floor((j * width) / grid);
      const right = Math.ceil(((j + 1) * width) / grid);
      const weight = 1 / ((bottom - top) * (right - left));
      for (let h = top; h < bottom; h++) {
        for (let w = left; w < right; w++) matrix[(h * width + w) * cells + i * grid + j] = weight;
      }
    }
  }
  return matrix;
}

class SubgraphWriter {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];

  constructor(private readonly prefix: string) {}

  name(local: string): string {
    return `${this.prefix}${local}`;
  }

  node(
    op: string,
    inputs: string[],
    output: string,
    attributes: Record<string, number | number[]> = {},
  ): string {
    this.nodes.push(makeNode(op, inputs, [output], `${output}_node`, attributes));
    return output;
  }

  ints(local: string, dims: number[], values: number[]): string {
    this.initializers.push(int64Tensor(this.name(local), dims, values));
    return this.name(local);
  }

  floats(local: string, dims: number[], values: Float32Array): string {
    this.initializers.push(floatTensor(this.name(local), dims, values));
    return this.name(local);
  }
}

function imagePooling(
  writer: SubgraphWriter,
  input: string,
  dims: number[],
  grid: number,
  output: string,
): void {
  const [channels, height, width] = dims as [number, number, number];
  const cells = grid * grid;
  if (height % grid === 0 && width % grid === 0) {
    const pooled =
      grid === 1
        ? writer.node('GlobalAveragePool', [input], writer.name('cells'))
        : writer.node('AveragePool', [input], writer.name('cells'), {
            kernel_shape: [height / grid, width / grid],
            strides: [height / grid, width / grid],
          });
    writer.node('Reshape', [pooled, writer.ints('feature_shape', [2], [0, channels * cells])], output);
    return;
  }
  const flat = writer.node(
    'Reshape',
    [input, writer.ints('flat_shape', [3], [0, channels, height * width])],
    writer.name('flat'),
  );
  const matrix = writer.floats(
    'pooling_matrix',
    [height * width, cells],
    adaptivePoolingMatrix(height, width, grid),
  );
  const pooled = writer.node('MatMul', [flat, matrix], writer.name('cells'));
  writer.node('Reshape', [pooled, writer.ints('feature_shape', [2], [0, channels * cells])], output);
}

function firstToken(writer: SubgraphWriter, input: string, output: string): string {
  return writer.node('Gather', [input, writer.ints('token0', [], [0])], output, { axis: 1 });
}

function meanTokens(
  writer: SubgraphWriter,
  input: string,
  dims: number[],
  mask: string | undefined,
  output: string,
): string {
  const [length, hidden] = dims as [number, number];
  const hiddenShape = writer.ints('hidden_shape', [2], [0, hidden]);
  if (!mask) {
    const uniform = writer.floats('uniform_row', [1, length], new Float32Array(length).fill(1 / length));
    const summed = writer.node('MatMul', [uniform, input], writer.name('mean3'));
    return writer.node('Reshape', [summed, hiddenShape], output);
  }
  const maskFloat = writer.node('Cast', [mask], writer.name('mask_float'), { to: 1 });
  const maskRow = writer.node(
    'Reshape',
    [maskFloat, writer.ints('mask_row_shape', [3], [0, 1, length])],
    writer.name('mask_row'),
  );
  const summed3 = writer.node('MatMul', [maskRow, input], writer.name('masked_sum3'));
  const summed = writer.node('Reshape', [summed3, hiddenShape], writer.name('masked_sum'));
  const ones = writer.floats('ones_column', [length, 1], new Float32Array(length).fill(1));
  const count3 = writer.node('MatMul', [maskRow, ones], writer.name('count3'));
  const count = writer.node(
    'Reshape',
    [count3, writer.ints('count_shape', [2], [0, 1])],
    writer.name('count'),
  );
  const atLeastOne = writer.node(
    'Max',
    [count, writer.floats('one', [1], Float32Array.of(1))],
    writer.name('count_safe'),
  );
  return writer.node('Div', [summed, atLeastOne], output);
}

/** Nodes and constants computing the member's features [B, featureSize] from the activation. */
export function poolingSubgraph(request: PoolingRequest): Subgraph {
  const dims = memberDims(request.member, request.shape);
  const writer = new SubgraphWriter(request.prefix);
  const input =
    request.elemType === 1
      ? request.activation
      : writer.node('Cast', [request.activation], writer.name('activation_float'), { to: 1 });
  const member = request.member;
  if (member.type === 'image') {
    imagePooling(writer, input, dims, member.grid, request.output);
  } else if (member.pool === 'first') {
    firstToken(writer, input, request.output);
  } else if (member.pool === 'mean') {
    meanTokens(writer, input, dims, request.mask, request.output);
  } else {
    const first = firstToken(writer, input, writer.name('first'));
    const mean = meanTokens(writer, input, dims, request.mask, writer.name('mean'));
    writer.node('Concat', [first, mean], request.output, { axis: 1 });
  }
  return { nodes: writer.nodes, initializers: writer.initializers };
}
