import { InputError } from '../../core/errors';
import {
  appendToWindow,
  concatWindows,
  emptyWindow,
  lastInputs,
  selectRamps,
  sliceWindow,
  windowFromColumns,
  windowFromPredictions,
  windowFromRows,
} from '../../core/control/records';

const rows = [
  { confidence: [0.9, 0.95], agrees: [true, true] },
  { confidence: [0.4, 0.8], agrees: [false, true] },
  { confidence: [0.6, 0.7], agrees: [1, 0] },
];

describe('exit windows', () => {
  it('builds a columnar window from rows', () => {
    // When rows are turned into a window
    const window = windowFromRows(rows);

    // Then each ramp holds one column, inputs in order
    expect(window.count).toBe(3);
    expect(Array.from(window.confidence[1] as Float32Array)).toEqual([0.95, 0.8, 0.7].map(Math.fround));
    expect(Array.from(window.agrees[0] as Uint8Array)).toEqual([1, 0, 1]);
  });

  it('rejects rows of the wrong width and confidences outside [0, 1]', () => {
    expect(() => windowFromRows([{ confidence: [0.5], agrees: [true, false] }])).toThrow(InputError);
    expect(() => windowFromColumns([[1.5]], [[1]])).toThrow(InputError);
    expect(() => windowFromColumns([[Number.NaN]], [[1]])).toThrow(InputError);
  });

  it('slices, keeps the newest inputs and joins windows', () => {
    const window = windowFromRows(rows);
    expect(sliceWindow(window, 1, 2).agrees.map((c) => Array.from(c))).toEqual([[0], [1]]);
    expect(lastInputs(window, 2).count).toBe(2);
    expect(lastInputs(window, 10).count).toBe(3);
    const joined = concatWindows([window, sliceWindow(window, 0, 1)]);
    expect(joined.count).toBe(4);
    expect(Array.from(joined.agrees[0] as Uint8Array)).toEqual([1, 0, 1, 1]);
    expect(() => concatWindows([window, emptyWindow(3)])).toThrow(InputError);
  });

  it('keeps the last input of every batch (no dropped sample)', () => {
    // Given batches whose last input is the only one where ramp 0 disagrees
    const batch = (n: number) =>
      windowFromRows(
        Array.from({ length: n }, (_, i) => ({ confidence: [0.99], agrees: [i === n - 1 ? 0 : 1] })),
      );

    // When they are appended to a sliding window one after the other
    let window = emptyWindow(1);
    for (const n of [3, 5, 4]) window = appendToWindow(window, batch(n), 100);

    // Then every input is there, each batch's last one included
    expect(window.count).toBe(12);
    expect(Array.from(window.agrees[0] as Uint8Array)).toEqual([1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 0]);
  });

  it('slides: only the newest inputs stay, and older windows are left untouched', () => {
    const first = windowFromRows(rows);
    const slid = appendToWindow(first, windowFromRows(rows.slice(0, 2)), 4);
    expect(slid.count).toBe(4);
    expect(Array.from(slid.agrees[0] as Uint8Array)).toEqual([0, 1, 1, 0]);
    expect(first.count).toBe(3);
    expect(appendToWindow(first, windowFromRows(rows), 2).count).toBe(2);
  });

  it('selects a subset of ramps without copying', () => {
    const all = windowFromRows([{ confidence: [0.1, 0.2, 0.3], agrees: [0, 1, 0] }]);
    const subset = selectRamps(all, [0, 2]);
    expect(subset.confidence[1]).toBe(all.confidence[2]);
    expect(() => selectRamps(all, [3])).toThrow(InputError);
  });

  it('derives agreement from recorded predictions', () => {
    const window = windowFromPredictions({
      count: 3,
      confidence: [Float32Array.from([0.5, 0.6, 0.7])],
      prediction: [Uint16Array.from([1, 2, 3])],
      finalPrediction: Uint16Array.from([1, 0, 3]),
    });
    expect(Array.from(window.agrees[0] as Uint8Array)).toEqual([1, 0, 1]);
  });
});
