/**
 * Padding batches to a fixed set of sizes. Sessions are warmed and latencies profiled only at
 * these sizes, so a batch of any other length must run at the next size up; both policies and the
 * simulator's timing use the same rounding so that their latencies agree.
 */
import { InputError } from '../errors';
import { DEFAULT_BATCH_SIZES } from './policy';

/**
 * Validates a list of supported batch sizes and returns it ascending without repeats, so that the
 * lookups below can rely on order. Refuses an empty list and anything but positive integers.
 */
export function supportedBatchSizes(sizes: readonly number[] = DEFAULT_BATCH_SIZES): readonly number[] {
  if (sizes.length === 0) {
    throw new InputError(
      'supported batch sizes must not be empty; give positive integers such as [1, 2, 4, 8]',
    );
  }
  for (const size of sizes) {
    if (!Number.isSafeInteger(size) || size < 1) {
      throw new InputError(`supported batch sizes must be positive integers, got ${size}`);
    }
  }
  return [...new Set(sizes)].sort((a, b) => a - b);
}

/**
 * The smallest supported size that holds `length` requests, or undefined when none is large
 * enough. `sizes` must come from supportedBatchSizes().
 */
export function paddedBatchSize(length: number, sizes: readonly number[]): number | undefined {
  for (const size of sizes) {
    if (size >= length) return size;
  }
  return undefined;
}
