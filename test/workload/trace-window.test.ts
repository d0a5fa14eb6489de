import { InputError } from '../../core/errors';
import { traceWindow } from '../../core/workload/trace';

describe('choosing a window of a trace', () => {
  const counts = Uint32Array.from([5, 0, 0, 3, 4, 0, 7, 8]);

  it('copies consecutive seconds, gaps included', () => {
    const window = traceWindow(counts, 1, 4);

    expect(Array.from(window)).toEqual([0, 0, 3, 4]);
    window[0] = 99;
    expect(counts[1]).toBe(0);
  });

  it('skips seconds without requests and extends past them when asked', () => {
    expect(Array.from(traceWindow(counts, 1, 4, { skipZeroGaps: true }))).toEqual([3, 4, 7, 8]);
  });

  it('accepts a window that ends exactly at the end of the trace', () => {
    expect(Array.from(traceWindow(counts, 6, 2))).toEqual([7, 8]);
  });

  it('refuses windows that do not fit the trace, saying what would', () => {
    expect(() => traceWindow(counts, 6, 3)).toThrow(
      "a 3 s trace window from second 6 runs past the trace's end (8 s); start at 5 or earlier",
    );
    expect(() => traceWindow(counts, 8, 1)).toThrow(/start must be an integer second from 0 to 7, got 8/);
    expect(() => traceWindow(counts, -1, 1)).toThrow(InputError);
    expect(() => traceWindow(counts, 1.5, 1)).toThrow(InputError);
    expect(() => traceWindow(counts, 0, 0)).toThrow(/length must be a positive integer/);
    expect(() => traceWindow(counts, 4, 4, { skipZeroGaps: true })).toThrow(
      /only 3 seconds with requests remain from second 4, fewer than the 4 asked for/,
    );
  });
});
