/**
 * The rounds the preparation times cuts and ramps in: which variant runs when. Times themselves are
 * the benchmarks' business; here only the order and the count of runs are checked.
 */
import { timeRounds } from '../../core/prepare/profile';

/** Variants that record which ran, in order, and take no time worth measuring. */
function recorder(names: readonly string[]) {
  const calls: string[] = [];
  const variants = names.map((name) => () => {
    calls.push(name);
    return Promise.resolve();
  });
  return { calls, variants };
}

describe('timeRounds', () => {
  it('runs each variant once a round, rotating which goes first, after the warm-up rounds', async () => {
    // Given three variants
    const { calls, variants } = recorder(['split', 'whole', 'floor']);

    // When they are timed over three rounds after one warm-up round, single runs
    const times = await timeRounds(variants, 1, 3);

    // Then the warm-up ran each once, each round started one variant later, one time per round each
    expect(calls.join(' ')).toBe(
      'split whole floor ' + 'split whole floor ' + 'whole floor split ' + 'floor split whole',
    );
    expect(times.map((t) => t.length)).toEqual([3, 3, 3]);
  });

  it('runs a block of runs in a row per variant and keeps one time per round', async () => {
    // Given two variants
    const { calls, variants } = recorder(['chain', 'whole']);

    // When they are timed over two rounds in blocks of four, no warm-up
    const times = await timeRounds(variants, 0, 2, 4);

    // Then each ran four times in a row per round, the order rotating, and one time per round was kept
    expect(calls.join(' ')).toBe(
      'chain chain chain chain whole whole whole whole ' + 'whole whole whole whole chain chain chain chain',
    );
    expect(times.map((t) => t.length)).toEqual([2, 2]);
    for (const t of times.flat()) expect(t).toBeGreaterThanOrEqual(0);
  });
});
