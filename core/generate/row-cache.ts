/**
 * One sequence's key-value cache: for every layer, the keys and values of the positions that
 * layer has already processed, time-major ([positions, width]) in a buffer sized for the model's
 * whole context, so appending never reallocates and the first `length` rows can be handed to
 * onnxruntime as a view without copying.
 *
 * Layers fill at different paces under early exits: the shallow layers have seen every position,
 * the deep ones only those up to the last deferred fill. Each layer therefore keeps its own length.
 */
export class RowCache {
  private readonly keys: Float32Array[];
  private readonly values: Float32Array[];
  private readonly lengths: Int32Array;

  constructor(
    readonly layers: number,
    readonly width: number,
    readonly capacity: number,
  ) {
    this.keys = Array.from({ length: layers }, () => new Float32Array(capacity * width));
    this.values = Array.from({ length: layers }, () => new Float32Array(capacity * width));
    this.lengths = new Int32Array(layers);
  }

  /** Positions layer `layer` has processed. */
  length(layer: number): number {
    return this.lengths[layer] as number;
  }

  /** The cached keys of a layer: a view of `length(layer) × width` floats. */
  keysOf(layer: number): Float32Array {
    return (this.keys[layer] as Float32Array).subarray(0, this.length(layer) * this.width);
  }

  /** The cached values of a layer: a view of `length(layer) × width` floats. */
  valuesOf(layer: number): Float32Array {
    return (this.values[layer] as Float32Array).subarray(0, this.length(layer) * this.width);
  }

  /** Appends `count` new positions (time-major rows of `width` floats) to a layer. */
  append(layer: number, keys: Float32Array, values: Float32Array, count: number): void {
    const start = this.length(layer);
    if (start + count > this.capacity)
      throw new RangeError(
        `layer ${layer} cache holds ${this.capacity} positions; ${start} + ${count} do not fit`,
      );
    const floats = count * this.width;
    (this.keys[layer] as Float32Array).set(keys.subarray(0, floats), start * this.width);
    (this.values[layer] as Float32Array).set(values.subarray(0, floats), start * this.width);
    this.lengths[layer] = start + count;
  }

  /** Bytes held by this cache's buffers (what the per-worker memory cap counts). */
  get bytes(): number {
    return 2 * this.layers * this.capacity * this.width * Float32Array.BYTES_PER_ELEMENT;
  }
}
