import type { ExitLogItem } from '../../../adapters/dynamo';
import {
  servedBatches,
  tuningEvidence,
  typicalBatchSize,
} from '../../../functions/controller/exit-log-evidence';

type Observation = [id: string, confidence: number, prediction: number];

function batch(
  startedAtMs: number,
  paddedSize: number,
  requests: { exit: string; final: number; ramps: Observation[] }[],
): ExitLogItem {
  return {
    model: 'm',
    batchId: `b${startedAtMs}`,
    startedAtMs,
    configVersion: 0,
    batchSize: requests.length,
    paddedSize,
    requests: requests.map((request, i) => ({
      requestId: `r${startedAtMs}-${i}`,
      exit: request.exit,
      releasedMs: 1,
      finalMs: 2,
      finalPrediction: request.final,
      ramps: request.ramps.map(([id, confidence, prediction]) => ({ id, confidence, prediction })),
    })),
  };
}

// Oldest first, as the reader returns them: a batch of a superset of ramps, one of another set,
// and one of exactly the ramps c1, c3.
const logs = [
  batch(100, 4, [
    {
      exit: 'final',
      final: 7,
      ramps: [
        ['c0', 0.5, 1],
        ['c1', 0.6, 7],
        ['c3', 0.9, 7],
      ],
    },
    {
      exit: 'c1',
      final: 2,
      ramps: [
        ['c0', 0.4, 2],
        ['c1', 0.99, 3],
        ['c3', 0.8, 2],
      ],
    },
  ]),
  batch(200, 2, [{ exit: 'final', final: 1, ramps: [['c2', 0.7, 1]] }]),
  batch(300, 8, [
    {
      exit: 'c3',
      final: 5,
      ramps: [
        ['c1', 0.3, 4],
        ['c3', 0.97, 5],
      ],
    },
    {
      exit: 'c1',
      final: 6,
      ramps: [
        ['c1', 0.95, 0],
        ['c3', 0.5, 6],
      ],
    },
    {
      exit: 'final',
      final: 9,
      ramps: [
        ['c1', 0.1, 9],
        ['c3', 0.2, 9],
      ],
    },
  ]),
];

describe('evidence from exit logs', () => {
  it('builds the tuning window from every request that observed all current ramps, newest kept', () => {
    // When the window of ramps c1, c3 is built with room for four inputs
    const evidence = tuningEvidence(logs, ['c1', 'c3'], 4);

    // Then it holds the four newest such requests in time order, the superset batch's included
    expect(evidence.window.count).toBe(4);
    expect(Array.from(evidence.window.confidence[0] ?? [])).toEqual([0.99, 0.3, 0.95, 0.1].map(Math.fround));
    expect(Array.from(evidence.window.agrees[0] ?? [])).toEqual([0, 0, 0, 1]);
    expect(Array.from(evidence.window.agrees[1] ?? [])).toEqual([1, 1, 1, 1]);
    expect(evidence.paddedSizes).toEqual([4, 8, 8, 8]);
    // And the request of another ramp set is counted, not used
    expect(evidence.otherRampSetRequests).toBe(1);
  });

  it('counts served agreement and exits only for requests served with exactly the current ramps', () => {
    // When the served batches of ramps c1, c3 are taken
    const served = servedBatches(logs, ['c1', 'c3']);

    // Then only the last batch counts: one wrong early answer (c1 said 0, the model 6), one exit at each ramp
    expect(served).toEqual([{ inputs: 3, correct: 2, paddedSize: 8, exitCounts: [1, 1, 1] }]);
  });

  it('takes the median padded size, or the fallback when there is none', () => {
    expect(typicalBatchSize([8, 2, 32, 8], 4)).toBe(8);
    expect(typicalBatchSize([], 4)).toBe(4);
  });
});
