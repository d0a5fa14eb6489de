/**
 * A distribution-free confidence interval for the median of repeated measurements (the sign
 * test's interval): the k-th smallest and k-th largest of n values, with k the largest for which
 * the interval still covers the true median with at least the asked probability. It assumes only
 * that the repeats are independent and alike, not that they are normal or even unimodal, which
 * matters here: at load 0.7 the plain model's queue is bistable, and a run's median latency comes
 * from one regime or the other. A t-interval over three such repeats would be meaningless.
 *
 * Its coverage is exact and comes in steps (n = 3 gives at best 75%, n = 5 93.8%, n = 8 93.0% or
 * 99.2%), so the interval reports the coverage it achieves rather than rounding it to the asked one.
 * The binomial sums are a few terms at p = 1/2; no library is needed for them.
 */
export interface MedianInterval {
  readonly low: number;
  readonly high: number;
  /** The probability that [low, high] covers the true median: at least the asked level when n allows. */
  readonly coverage: number;
  readonly repeats: number;
}

/** P(X <= k) for X ~ Binomial(n, 1/2). */
function binomialHalfCdf(n: number, k: number): number {
  let term = 0.5 ** n;
  let sum = 0;
  for (let i = 0; i <= k; i++) {
    sum += term;
    term = (term * (n - i)) / (i + 1);
  }
  return sum;
}

/** Coverage of [x(k), x(n-k+1)] (1-based order statistics). */
function coverageOf(n: number, k: number): number {
  return 1 - 2 * binomialHalfCdf(n, k - 1);
}

/**
 * The narrowest order-statistic interval whose coverage is at least `level`; with too few repeats
 * for that, the whole range (min – max) with the coverage it has. NaN bounds for no values.
 */
export function medianInterval(values: readonly number[], level = 0.9): MedianInterval {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return { low: Number.NaN, high: Number.NaN, coverage: 0, repeats: 0 };
  let k = 1;
  while (k + 1 <= Math.ceil(n / 2) && coverageOf(n, k + 1) >= level) k++;
  return {
    low: sorted[k - 1] as number,
    high: sorted[n - k] as number,
    coverage: coverageOf(n, k),
    repeats: n,
  };
}
