/**
 * Checking a batch's feeds against the model's declared inputs before any segment runs. Without
 * it a wrong shape surfaces as an onnxruntime message about some internal node of the first
 * segment; checked here, the error names the input, what it got and what the model takes, and
 * nothing has run (so no ramp event of a bad batch ever reaches the main thread).
 */
import type { PlainFeeds, PlainTensor } from '../../core/inference/batch-encoding';
import type { TensorSpec } from '../../core/model/model-spec';
import { InputError } from '../../core/errors';

function arrayMatches(tensor: PlainTensor, dtype: TensorSpec['dtype']): boolean {
  return dtype === 'float32' ? tensor.data instanceof Float32Array : tensor.data instanceof BigInt64Array;
}

/**
 * Checks that the feeds are exactly the model's inputs, each with its dtype, a shared padded batch
 * size and the declared sizes after the batch, and that `rows` real rows fit in that batch.
 * Returns the padded batch size.
 */
export function checkFeeds(feeds: PlainFeeds, rows: number, inputs: readonly TensorSpec[]): number {
  const expected = new Set(inputs.map((input) => input.name));
  const extra = Object.keys(feeds).filter((name) => !expected.has(name));
  if (extra.length > 0) {
    throw new InputError(
      `feeds name unknown inputs ${extra.join(', ')}; the model takes ${[...expected].join(', ')}`,
    );
  }
  let padded: number | undefined;
  for (const input of inputs) {
    const tensor = feeds[input.name];
    const declared = `[${input.shape.join(',')}] ${input.dtype}`;
    if (!tensor) throw new InputError(`feeds lack input ${input.name}; the model takes ${declared}`);
    const shape: unknown = tensor.dims;
    if (!Array.isArray(shape) || !ArrayBuffer.isView(tensor.data)) {
      throw new InputError(`input ${input.name} must be { dtype, data: a typed array, dims: number[] }`);
    }
    const dims = tensor.dims;
    const sizesMatch =
      dims.length === input.shape.length &&
      input.shape.every((dim, axis) => axis === 0 || dim === dims[axis]) &&
      dims.every((dim) => Number.isInteger(dim) && dim > 0);
    if (tensor.dtype !== input.dtype || !arrayMatches(tensor, input.dtype) || !sizesMatch) {
      throw new InputError(
        `input ${input.name} is [${dims.join(',')}] ${tensor.dtype}; the model takes ${declared}`,
      );
    }
    const count = dims.reduce((product, dim) => product * dim, 1);
    if (tensor.data.length !== count) {
      throw new InputError(
        `input ${input.name} holds ${tensor.data.length} values, but its dims [${dims.join(',')}] need ${count}`,
      );
    }
    const batch = dims[0] as number;
    if (padded !== undefined && batch !== padded) {
      throw new InputError(
        `input ${input.name} has batch size ${batch}, other inputs ${padded}; every input must share one batch size`,
      );
    }
    padded = batch;
  }
  if (padded === undefined) throw new InputError('the model declares no inputs to feed');
  if (!Number.isInteger(rows) || rows < 1 || rows > padded) {
    throw new InputError(`rows must be an integer from 1 to the padded batch size ${padded}; got ${rows}`);
  }
  return padded;
}
