/**
 * Latency histograms with fixed log-spaced bins. Per-worker profiles store one per measured rate,
 * and the fleet simulator adds them up weighted by the requests each worker group served, so fleet
 * quantiles come from the same per-request latencies the per-worker replay measured, without
 * keeping millions of samples. Fixed edges make histograms from different runs addable.
 */

/** Lowest bin edge, in ms: anything faster lands in the first bin. */
export const HISTOGRAM_MIN_MS = 0.1;
/** Bins per factor of ten: about 12% wide each, finer than the spread of a measured quantile. */
export const BINS_PER_DECADE = 20;
/** Decades covered above the minimum (0.1 ms to 10 s); slower requests land in the last bin. */
export const HISTOGRAM_DECADES = 5;
export const HISTOGRAM_BINS = BINS_PER_DECADE * HISTOGRAM_DECADES;

/** Bin of one latency. */
export function binOf(latencyMs: number): number {
  if (!(latencyMs > HISTOGRAM_MIN_MS)) return 0;
  const bin = Math.floor(Math.log10(latencyMs / HISTOGRAM_MIN_MS) * BINS_PER_DECADE);
  return Math.min(HISTOGRAM_BINS - 1, bin);
}

/** Upper edge of a bin, in ms. */
export function upperEdgeMs(bin: number): number {
  return HISTOGRAM_MIN_MS * 10 ** ((bin + 1) / BINS_PER_DECADE);
}

/** Counts of the given latencies per bin. */
export function histogramOf(latenciesMs: ArrayLike<number>): number[] {
  const counts = new Array<number>(HISTOGRAM_BINS).fill(0);
  for (let i = 0; i < latenciesMs.length; i++) {
    const bin = binOf(latenciesMs[i] as number);
    counts[bin] = (counts[bin] as number) + 1;
  }
  return counts;
}

/** Adds `weight` times the normalised `source` histogram into `into` (in place). */
export function addWeighted(into: number[], source: readonly number[], weight: number): void {
  const total = source.reduce((sum, c) => sum + c, 0);
  if (total <= 0 || weight <= 0) return;
  for (let i = 0; i < HISTOGRAM_BINS; i++) into[i] = (into[i] ?? 0) + ((source[i] ?? 0) * weight) / total;
}

/**
 * The q-quantile of a histogram, interpolated geometrically inside its bin (NaN when empty). The
 * error is at most one bin's width (12%), reported as such in the fleet docs.
 */
export function histogramQuantile(counts: readonly number[], q: number): number {
  const total = counts.reduce((sum, c) => sum + c, 0);
  if (total <= 0) return Number.NaN;
  const target = Math.min(1, Math.max(0, q)) * total;
  let seen = 0;
  for (let bin = 0; bin < counts.length; bin++) {
    const count = counts[bin] ?? 0;
    if (count > 0 && seen + count >= target) {
      const within = (target - seen) / count;
      const low = bin === 0 ? HISTOGRAM_MIN_MS : upperEdgeMs(bin - 1);
      return low * (upperEdgeMs(bin) / low) ** within;
    }
    seen += count;
  }
  return upperEdgeMs(counts.length - 1);
}
