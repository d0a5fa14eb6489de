/**
 * Small order statistics used by measurements everywhere. Benchmarks and profiles report medians
 * (not means) because these machines are noisy and a single descheduling would skew a mean.
 */

/** The q-quantile (0..1) by linear interpolation between order statistics; NaN for no values. */
export function quantile(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Array.from(values).sort((a, b) => a - b);
  const position = (sorted.length - 1) * Math.min(1, Math.max(0, q));
  const lower = Math.floor(position);
  const upper = Math.ceil(position);
  const low = sorted[lower] as number;
  const high = sorted[upper] as number;
  return low + (high - low) * (position - lower);
}

/** The median, the statistic every latency figure in this project reports by default. */
export function median(values: ArrayLike<number>): number {
  return quantile(values, 0.5);
}

/**
 * Index of the largest of `width` values starting at `offset`; ties go to the lower index, the
 * same rule the training recipes' argmax uses, so agreement counts match across languages.
 */
export function argmax(values: ArrayLike<number>, offset: number, width: number): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < width; i++) {
    const value = values[offset + i] as number;
    if (value > bestValue) {
      bestValue = value;
      best = i;
    }
  }
  return best;
}

/**
 * The most probable class of a row of logits and its softmax probability, computed stably
 * (shifted by the largest logit), without building the whole distribution.
 */
export function topClass(
  logits: ArrayLike<number>,
  offset: number,
  width: number,
): { index: number; confidence: number } {
  const index = argmax(logits, offset, width);
  const top = logits[offset + index] as number;
  let sum = 0;
  for (let k = 0; k < width; k++) sum += Math.exp((logits[offset + k] as number) - top);
  return { index, confidence: 1 / sum };
}

/** Rounding can put a probability a hair outside [0, 1]; result schemas refuse that. */
export function clampUnit(value: number): number {
  return value < 0 ? 0 : value > 1 ? 1 : value;
}

/**
 * The largest value, or `floor` when there are none or all are smaller. A loop, not
 * `Math.max(...values)`: spreading an array into a call puts every element on the stack, and a
 * long replay (hundreds of thousands of requests) overflows it.
 */
export function maxOf(values: Iterable<number>, floor = -Infinity): number {
  let best = floor;
  for (const value of values) if (value > best) best = value;
  return best;
}

/** The smallest value, or `ceiling` when there are none or all are larger; see `maxOf` for why a loop. */
export function minOf(values: Iterable<number>, ceiling = Infinity): number {
  let best = ceiling;
  for (const value of values) if (value < best) best = value;
  return best;
}

/**
 * The lower end of the Wilson score interval for a share `share` observed on `count` trials, at
 * `z` standard deviations (1.645: one-sided 95%). Unlike the normal approximation it stays inside
 * [0, 1] and says something when every trial succeeded: 100 out of 100 bounds the share at 0.974,
 * not 1. Returns `share` itself when there were no trials to doubt it with.
 */
export function wilsonLowerBound(share: number, count: number, z = 1.645): number {
  if (!(count > 0)) return share;
  const p = Math.min(1, Math.max(0, share));
  const z2 = z * z;
  const centre = p + z2 / (2 * count);
  const spread = z * Math.sqrt((p * (1 - p)) / count + z2 / (4 * count * count));
  return Math.max(0, (centre - spread) / (1 + z2 / count));
}
