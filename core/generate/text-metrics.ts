/**
 * Textual consistency of a generation with the full model's (CALM's measure): exact match, and
 * ROUGE-L, the F1 of the longest common subsequence of words. These describe outputs after the
 * fact; they cannot steer thresholds, because texts diverge after the first changed token.
 */

/** Words of a text: maximal runs of non-space characters. */
function words(text: string): string[] {
  return text.split(/\s+/).filter((word) => word.length > 0);
}

/** Length of the longest common subsequence of two sequences (two-row dynamic programme). */
export function lcsLength<T>(a: readonly T[], b: readonly T[]): number {
  let previous = new Int32Array(b.length + 1);
  let current = new Int32Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      current[j] =
        a[i - 1] === b[j - 1]
          ? (previous[j - 1] as number) + 1
          : Math.max(previous[j] as number, current[j - 1] as number);
    }
    [previous, current] = [current, previous];
  }
  return previous[b.length] as number;
}

/** ROUGE-L F1 of `candidate` against `reference` over words; two empty texts score 1. */
export function rougeL(candidate: string, reference: string): number {
  const c = words(candidate);
  const r = words(reference);
  if (c.length === 0 && r.length === 0) return 1;
  const common = lcsLength(c, r);
  if (common === 0) return 0;
  const precision = common / c.length;
  const recall = common / r.length;
  return (2 * precision * recall) / (precision + recall);
}
