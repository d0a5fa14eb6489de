import { randomSubsets, sliceAndCompare } from './fixture-slicing';

const FIXTURE = 'spam-bert';
const TOLERANCE = 1e-4;

describe(`sliceModel on ${FIXTURE}`, () => {
  it('gives segments that each load alone and, chained, reproduce the logits over 256 serving inputs', async () => {
    // Given the fixture cut at all its candidates and at three seeded random subsets of them
    // When each set of segments is loaded alone and chained over 256 serving inputs
    const outcomes = await sliceAndCompare(
      FIXTURE,
      ({ analysis }) => {
        const ids = analysis.candidates.map((candidate) => candidate.id);
        return [ids, ...randomSubsets(ids, 20261123)].map((candidateIds) => ({ candidateIds }));
      },
      256,
    );

    for (const { cuts, segments, loaded, maxLogitDiff } of outcomes) {
      // Then there is one segment more than cuts, each declaring the interface it reports
      const cutCount = 'candidateIds' in cuts ? cuts.candidateIds.length : cuts.positions.length;
      expect(segments).toHaveLength(cutCount + 1);
      segments.forEach((segment, index) => {
        expect([...loaded[index]!.inputs].sort()).toEqual([...segment.inputs].sort());
        expect(loaded[index]!.outputs).toEqual(segment.outputs);
      });
      expect(segments[segments.length - 1]!.outputs).toEqual(['logits']);
      // And the chained segments give the original logits
      expect(maxLogitDiff).toBeLessThanOrEqual(TOLERANCE);
    }
  });

  it('reproduces the logits when cut at every feasible position, not just the candidates', async () => {
    // Given the fixture cut at every feasible position, over its first 64 serving inputs
    const [outcome] = await sliceAndCompare(
      FIXTURE,
      ({ analysis }) => [{ positions: analysis.feasiblePositions.map((cut) => cut.position) }],
      64,
    );

    // Then the chained segments give the original logits
    expect(outcome!.segments.length).toBeGreaterThan(10);
    expect(outcome!.maxLogitDiff).toBeLessThanOrEqual(TOLERANCE);
  });
});
