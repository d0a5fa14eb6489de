/**
 * Turning samples into model inputs. Batches are built as plain typed arrays with their shapes
 * (not onnxruntime tensors) so that they can cross to the inference thread as transferable
 * buffers; the thread wraps them into tensors right before running.
 */
import { InputError } from '../errors';
import type { ModelSpec, TensorSpec } from '../model/model-spec';
import { HuggingFaceTokenizer } from '../text/hf-tokenizer';
import { Tokenizer, type EncodedText } from '../text/tokenizer';
import { checkImageTensorShape, createImageNormaliser } from './image-normalisation';

/** Element types that cross between segments: activations, masks, and shape-derived side tensors. */
export type PlainDtype = 'float32' | 'int64' | 'int32' | 'bool' | 'float64';

export interface PlainTensor {
  readonly dtype: PlainDtype;
  readonly data: Float32Array | BigInt64Array | Int32Array | Uint8Array | Float64Array;
  readonly dims: readonly number[];
}

export type PlainFeeds = Record<string, PlainTensor>;

/** One input sample as the API and the data sets carry it: grey bytes or raw text. */
export type RawSample =
  | { readonly kind: 'image'; readonly pixels: ArrayLike<number> }
  | { readonly kind: 'text'; readonly text: string };

/** Encodes raw samples of one model into batched input tensors, optionally padded to `paddedSize` rows. */
export interface BatchEncoder {
  readonly inputs: readonly TensorSpec[];
  encode(samples: readonly RawSample[], paddedSize?: number): PlainFeeds;
}

function fixedDims(spec: TensorSpec): number[] {
  return spec.shape.slice(1).map((dim) => {
    if (typeof dim !== 'number') {
      throw new InputError(
        `input ${spec.name} has symbolic dimension ${dim} beyond the batch axis; only the batch may vary`,
      );
    }
    return dim;
  });
}

function imageEncoder(model: ModelSpec): BatchEncoder {
  const pre = model.preprocessing;
  if (pre.type !== 'image' || model.inputs.length !== 1) {
    throw new InputError(
      `model ${model.name}: an image model needs image preprocessing and exactly one input`,
    );
  }
  const input = model.inputs[0] as TensorSpec;
  fixedDims(input);
  const normaliser = createImageNormaliser(pre);
  checkImageTensorShape(model.name, input, normaliser, pre.layout);
  const sampleSize = normaliser.size;
  return {
    inputs: model.inputs,
    encode(samples, paddedSize = samples.length) {
      const data = new Float32Array(paddedSize * sampleSize);
      samples.forEach((sample, row) => {
        if (sample.kind !== 'image' || sample.pixels.length !== sampleSize) {
          throw new InputError(
            `model ${model.name} takes images of ${sampleSize} values (${pre.channels}x${pre.height}x${pre.width})`,
          );
        }
        normaliser.write(sample.pixels, data, row * sampleSize);
      });
      return { [input.name]: { dtype: 'float32', data, dims: [paddedSize, ...normaliser.dims] } };
    },
  };
}

/** The text tokenizer a model's description names, bound to the model's sequence length. */
function textTokenizer(
  model: ModelSpec,
  idsInput: TensorSpec,
): {
  readonly length: number;
  readonly padId: number;
  encode(text: string): EncodedText;
} {
  const pre = model.preprocessing;
  if (pre.type !== 'text') throw new InputError(`model ${model.name}: a text model needs text preprocessing`);
  const spec = pre.tokenizer;
  if (spec.type === 'ascii-words') {
    const tokenizer = new Tokenizer(spec);
    return { length: spec.maxLength, padId: spec.padId, encode: (text) => tokenizer.encode(text) };
  }
  const [length] = fixedDims(idsInput);
  if (length === undefined || idsInput.shape.length !== 2) {
    throw new InputError(
      `model ${model.name}: input ${idsInput.name} must be token ids shaped [batch, length]; it is [${idsInput.shape.join(', ')}]`,
    );
  }
  if (spec.content === undefined) {
    throw new InputError(
      `model ${model.name}: tokenizer ${spec.file} was not loaded; load the model with loadModel, which reads it`,
    );
  }
  const tokenizer = new HuggingFaceTokenizer(spec.content, length, spec.file);
  return { length, padId: tokenizer.padId, encode: (text) => tokenizer.encode(text, length) };
}

function textEncoder(model: ModelSpec): BatchEncoder {
  const maskInput = model.inputs.find((input) => /mask/i.test(input.name));
  const typeInput = model.inputs.find((input) => /token_type|segment/i.test(input.name));
  const idsInput = model.inputs.find((input) => input !== maskInput && input !== typeInput);
  if (!idsInput || model.inputs.length > 3 || model.inputs.some((input) => input.dtype !== 'int64')) {
    throw new InputError(
      `model ${model.name}: a text model takes int64 token ids and optionally an attention mask and token type ids; its inputs are ${model.inputs.map((input) => `${input.name} (${input.dtype})`).join(', ')}`,
    );
  }
  const tokenizer = textTokenizer(model, idsInput);
  const { length } = tokenizer;
  return {
    inputs: model.inputs,
    encode(samples, paddedSize = samples.length) {
      const ids = new BigInt64Array(paddedSize * length).fill(BigInt(tokenizer.padId));
      const mask = new BigInt64Array(paddedSize * length);
      samples.forEach((sample, row) => {
        if (sample.kind !== 'text') throw new InputError(`model ${model.name} takes text`);
        const encoded = tokenizer.encode(sample.text);
        for (let i = 0; i < length; i++) {
          ids[row * length + i] = BigInt(encoded.ids[i] as number);
          mask[row * length + i] = BigInt(encoded.mask[i] as number);
        }
      });
      // Padding rows keep one unmasked position so attention never normalises over nothing.
      for (let row = samples.length; row < paddedSize; row++) mask[row * length] = 1n;
      const feeds: PlainFeeds = {
        [idsInput.name]: { dtype: 'int64', data: ids, dims: [paddedSize, length] },
      };
      if (maskInput) feeds[maskInput.name] = { dtype: 'int64', data: mask, dims: [paddedSize, length] };
      // One text per input: every position belongs to the first segment.
      if (typeInput) {
        feeds[typeInput.name] = {
          dtype: 'int64',
          data: new BigInt64Array(paddedSize * length),
          dims: [paddedSize, length],
        };
      }
      return feeds;
    },
  };
}

/** Builds the encoder a model's description calls for. */
export function createBatchEncoder(model: ModelSpec): BatchEncoder {
  return model.preprocessing.type === 'image' ? imageEncoder(model) : textEncoder(model);
}
