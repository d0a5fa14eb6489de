/**
 * Load expressed relative to what the worker can sustain. Benchmarks and simulations set their
 * request rate as a fraction of measured capacity (for example 0.7), so that results from
 * different models and machines are comparable.
 */
import { InputError } from '../errors';

export interface BestThroughput {
  /** The batch size that serves the most requests per second. */
  readonly batchSize: number;
  /** Requests per second at that size with the executor always busy. */
  readonly rps: number;
}

/**
 * The batch size with the highest throughput (batchSize / latency) over a latency profile. Larger
 * batches usually win, but not always (memory-bound models flatten out), hence the search.
 */
export function bestThroughput(
  batchSizes: readonly number[],
  latencyMs: (batchSize: number) => number,
): BestThroughput {
  if (batchSizes.length === 0) throw new InputError('capacity needs at least one profiled batch size');
  let best: BestThroughput | undefined;
  for (const batchSize of batchSizes) {
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
      throw new InputError(`batch sizes must be positive integers, got ${batchSize}`);
    }
    const latency = latencyMs(batchSize);
    if (!Number.isFinite(latency) || latency <= 0) {
      throw new InputError(
        `latency at batch size ${batchSize} must be a positive number of ms, got ${latency}`,
      );
    }
    const rps = (batchSize / latency) * 1000;
    if (best === undefined || rps > best.rps) best = { batchSize, rps };
  }
  return best as BestThroughput;
}

/** Capacity in requests per second: the best throughput over the profiled batch sizes. */
export function capacityRps(batchSizes: readonly number[], latencyMs: (batchSize: number) => number): number {
  return bestThroughput(batchSizes, latencyMs).rps;
}

/** The mean request rate for a load factor (0.7 = 70% of capacity). */
export function rateForLoad(loadFactor: number, capacity: number): number {
  if (!Number.isFinite(loadFactor) || loadFactor <= 0) {
    throw new InputError(
      `load factor must be a positive number (0.7 means 70% of capacity), got ${loadFactor}`,
    );
  }
  if (!Number.isFinite(capacity) || capacity <= 0) {
    throw new InputError(`capacity must be a positive number of requests per second, got ${capacity}`);
  }
  return loadFactor * capacity;
}
