/**
 * The e2e benchmark's policies take turns slice by slice over the same planned requests, so that
 * the host's speed changes fall on every policy alike: the slices must cover every request once,
 * in order, on the plan's own timeline, and the turn order must rotate.
 */
import { parseEvalArgs } from '../../bench/eval/settings';
import { sliceBounds, turnOrder } from '../../bench/eval/slices';
import type { PlannedRequest } from '../../bench/eval/workload';

const at = (times: number[]): PlannedRequest[] =>
  times.map((atMs, i) => ({ atMs, streamIndex: i, input: 'x', noisy: false }));

describe('e2e slices', () => {
  it('cuts the plan at every slice length, skipping slices without a request', () => {
    // Given arrivals over 11 s, none between 3 s and 9 s
    const planned = at([0, 400, 2999, 3000, 9100, 10_999]);

    // When cut into 3 s slices
    const slices = sliceBounds(planned, 3000);

    // Then each slice starts on the plan's 3 s grid and holds the requests of its window, in order
    expect(slices).toEqual([
      { from: 0, to: 3, startMs: 0 },
      { from: 3, to: 4, startMs: 3000 },
      { from: 4, to: 6, startMs: 9000 },
    ]);
  });

  it('gives one slice over everything when slicing is off, and none for no requests', () => {
    expect(sliceBounds(at([5, 7000, 90_000]), 0)).toEqual([{ from: 0, to: 3, startMs: 0 }]);
    expect(sliceBounds([], 3000)).toEqual([]);
  });

  it('rotates which policy serves first from one slice to the next', () => {
    expect([0, 1, 2, 3].map((k) => turnOrder(3, k))).toEqual([
      [0, 1, 2],
      [1, 2, 0],
      [2, 0, 1],
      [0, 1, 2],
    ]);
  });

  it('takes the slice length from the command line and refuses a negative one', () => {
    expect(parseEvalArgs(['--quick', '--slice-seconds=5']).sliceSeconds).toBe(5);
    expect(parseEvalArgs(['--quick', '--slice-seconds', '0']).sliceSeconds).toBe(0);
    expect(() => parseEvalArgs(['--slice-seconds=-1'])).toThrow(/sliceSeconds/);
  });
});
