/**
 * The figures `apparate logs` and the dashboard share: exits of ramps that were added later are
 * ordered by depth, ramps nobody exited at still show, and config versions are labelled by what
 * they changed.
 */
import { configHistory } from '../../core/report/config-history';
import { summariseExitLogs, type LoggedBatch } from '../../core/report/exit-log-summary';

const request = (id: string, exit: string, ramps: string[], agrees: boolean) => ({
  requestId: id,
  exit,
  releasedMs: exit === 'final' ? 10 : 4,
  finalMs: 10,
  ramps: ramps.map((rampId) => ({ id: rampId, prediction: rampId === exit && !agrees ? 2 : 1 })),
  finalPrediction: 1,
});

describe('exit-log summary', () => {
  it('orders exits shallow to deep across ramp sets and lists ramps nobody exited at', () => {
    const batches: LoggedBatch[] = [
      {
        batchId: 'a',
        startedAtMs: 1000,
        configVersion: 1,
        requests: [request('r1', 'b3', ['b1', 'b3'], true)],
      },
      {
        batchId: 'b',
        startedAtMs: 2000,
        configVersion: 2,
        requests: [
          request('r2', 'b2', ['b1', 'b2', 'b3'], false),
          request('r3', 'final', ['b1', 'b2', 'b3'], true),
        ],
      },
    ];
    const summary = summariseExitLogs(batches, { fromMs: 0, toMs: 4000, constraint: 0.99, windowMs: 1500 });
    expect(summary.exits.map((e) => [e.exit, e.requests])).toEqual([
      ['b1', 0],
      ['b2', 1],
      ['b3', 1],
      ['final', 1],
    ]);
    expect(summary.agreement).toBeCloseTo(2 / 3);
    expect(summary.windows.map((w) => [w.requests, w.meetsConstraint, w.configVersions])).toEqual([
      [1, true, [1]],
      [2, false, [2]],
    ]);
    expect(summary.versions.map((v) => [v.version, v.requests, v.firstMs])).toEqual([
      [1, 1, 1000],
      [2, 2, 2000],
    ]);
    expect(summary.throughputPerS).toBeCloseTo(3 / 4);
  });

  it('labels each config version by what it changed', () => {
    const history = configHistory([
      { version: 3, ramps: [{ id: 'b2', threshold: 0.1 }] },
      { version: 1, ramps: [{ id: 'b1', threshold: 0.1 }] },
      { version: 2, ramps: [{ id: 'b1', threshold: 0.2 }] },
      { version: 4, ramps: [{ id: 'b2', threshold: 0.1 }] },
    ]);
    expect(history.map((h) => [h.version, h.change])).toEqual([
      [1, 'first'],
      [2, 'thresholds'],
      [3, 'ramp set'],
      [4, 'none'],
    ]);
  });
});
