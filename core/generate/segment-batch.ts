/**
 * Runs one segment for several sequences at once, each bringing its own number of new positions
 * and its own cache length. Rows are padded to the longest input and the longest cache; the
 * attention bias hides every padded key, so a row's result does not depend on its neighbours.
 * The new keys and values of the real positions are appended to each row's cache.
 */
import type { PlainFeeds, PlainTensor } from '../inference/batch-encoding';
import type { DecoderSegment } from './generative-model';
import type { RowCache } from './row-cache';

/** What one row feeds a segment: token ids with positions (first segment) or hidden states. */
export interface SegmentRowInput {
  readonly cache: RowCache;
  /** Number of new positions. */
  readonly count: number;
  /** Token ids and their absolute positions, for a segment that starts at the embedding. */
  readonly tokens?: { readonly ids: readonly number[]; readonly positions: readonly number[] };
  /** `count × width` hidden states, for a segment that starts inside the backbone. */
  readonly hidden?: Float32Array;
}

/** What a row gets back: views into the batch's outputs, valid until the next run. */
export interface SegmentRowOutput {
  /** `count × width` hidden states at the segment's end (absent on the last segment). */
  readonly hidden: Float32Array | null;
  /** `count × 256` logits: the ramp's, or the model's own on the last segment. */
  readonly logits: Float32Array;
}

/** Shape parameters a batch needs from the model. */
export interface SegmentGeometry {
  readonly width: number;
  readonly vocabulary: number;
  readonly masked: number;
}

/** Runs `segment` over `rows` and appends their new keys and values to their caches. */
export async function runSegmentBatch(
  segment: DecoderSegment,
  rows: readonly SegmentRowInput[],
  geometry: SegmentGeometry,
): Promise<SegmentRowOutput[]> {
  const { width, vocabulary, masked } = geometry;
  const [firstLayer, endLayer] = segment.layers;
  const batch = rows.length;
  const steps = Math.max(...rows.map((row) => row.count));
  const pasts = rows.map((row) => row.cache.length(firstLayer));
  const past = Math.max(...pasts);
  const keysPerQuery = past + steps;
  const feeds: PlainFeeds = {};

  if (segment.takesTokens) {
    const ids = new BigInt64Array(batch * steps);
    const positions = new BigInt64Array(batch * steps);
    rows.forEach((row, b) => {
      if (!row.tokens) throw new Error('the first segment needs token ids');
      for (let i = 0; i < row.count; i++) {
        ids[b * steps + i] = BigInt(row.tokens.ids[i] as number);
        positions[b * steps + i] = BigInt(row.tokens.positions[i] as number);
      }
    });
    feeds.input_ids = { dtype: 'int64', data: ids, dims: [batch, steps] };
    feeds.position_ids = { dtype: 'int64', data: positions, dims: [batch, steps] };
  } else {
    const hidden = new Float32Array(batch * steps * width);
    rows.forEach((row, b) => {
      if (!row.hidden) throw new Error('a segment inside the backbone needs hidden states');
      hidden.set(row.hidden.subarray(0, row.count * width), b * steps * width);
    });
    feeds.hidden_in = { dtype: 'float32', data: hidden, dims: [batch, steps, width] };
  }

  const bias = new Float32Array(batch * steps * keysPerQuery).fill(masked);
  rows.forEach((row, b) => {
    const own = pasts[b] as number;
    for (let i = 0; i < steps; i++) {
      const base = (b * steps + i) * keysPerQuery;
      if (i >= row.count) {
        bias[base + past + i] = 0; // a padded query sees only itself: finite, and ignored
        continue;
      }
      bias.fill(0, base, base + own);
      bias.fill(0, base + past, base + past + i + 1);
    }
  });
  feeds.attn_bias = { dtype: 'float32', data: bias, dims: [batch, 1, steps, keysPerQuery] };

  for (let layer = firstLayer; layer < endLayer; layer++) {
    feeds[`past_key_${layer}`] = pastTensor(rows, layer, past, width, (cache) => cache.keysOf(layer));
    feeds[`past_value_${layer}`] = pastTensor(rows, layer, past, width, (cache) => cache.valuesOf(layer));
  }

  const outputs = await segment.session.run(feeds);
  for (let layer = firstLayer; layer < endLayer; layer++) {
    const keys = output(outputs, `key_${layer}`);
    const values = output(outputs, `value_${layer}`);
    rows.forEach((row, b) => {
      const offset = b * steps * width;
      row.cache.append(layer, keys.subarray(offset), values.subarray(offset), row.count);
    });
  }
  const logits = output(outputs, 'logits');
  const hidden = segment.endsAtRamp ? output(outputs, 'hidden') : null;
  return rows.map((row, b) => ({
    hidden: hidden ? hidden.subarray(b * steps * width, (b * steps + row.count) * width) : null,
    logits: logits.subarray(b * steps * vocabulary, (b * steps + row.count) * vocabulary),
  }));
}

/**
 * The batch's past keys or values of one layer, `[batch, past, width]`. A single row whose cache
 * is exactly `past` long is passed as a view of its own buffer; otherwise rows are copied in,
 * each a contiguous block, and the padding after them is masked by the bias.
 */
function pastTensor(
  rows: readonly SegmentRowInput[],
  layer: number,
  past: number,
  width: number,
  pick: (cache: RowCache) => Float32Array,
): PlainTensor {
  const only = rows.length === 1 ? rows[0] : undefined;
  if (only && only.cache.length(layer) === past) {
    return { dtype: 'float32', data: pick(only.cache), dims: [1, past, width] };
  }
  const data = new Float32Array(rows.length * past * width);
  rows.forEach((row, b) => data.set(pick(row.cache), b * past * width));
  return { dtype: 'float32', data, dims: [rows.length, past, width] };
}

function output(outputs: Record<string, PlainTensor>, name: string): Float32Array {
  const tensor = outputs[name];
  if (!tensor || !(tensor.data instanceof Float32Array))
    throw new Error(`segment output ${name} is missing or not float32`);
  return tensor.data;
}
