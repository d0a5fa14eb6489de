/* eslint-disable jest/no-export -- this file is the slicing suite each fixture's test file runs */
/**
 * The slicing invariant measured on a fixture model. Each fixture has its own test file (so each
 * file stays short); this helper does the work and returns what the tests assert on.
 */
import { openSession } from '../../core/inference/onnx-session';
import type { ModelSegment, SliceCuts } from '../../core/onnx/slicing';
import { encodeOnnxModel } from '../../core/onnx/onnx-model';
import { sliceModel } from '../../core/onnx/slicing';
import { SeededRandom } from '../../core/util/random';
import {
  analysedFixture,
  floats,
  maxAbsDiff,
  runChain,
  servingBatches,
  type AnalysedFixture,
} from './fixture-runs';

/** What one slicing of a fixture gave. */
export interface SlicingOutcome {
  readonly cuts: SliceCuts;
  readonly segments: readonly ModelSegment[];
  /** Per segment: the input and output names onnxruntime reports when loading it alone. */
  readonly loaded: readonly { inputs: string[]; outputs: string[] }[];
  /** Largest |logit difference| between the chained segments and the whole model. */
  readonly maxLogitDiff: number;
}

/** Three seeded non-empty subsets of the candidate ids, each in random order. */
export function randomSubsets(ids: readonly string[], seed: number): string[][] {
  const random = new SeededRandom(seed);
  return [0, 1, 2].map(() => {
    const order = random.permutation(ids.length);
    const size = 1 + Math.floor(random.next() * (ids.length - 1));
    return Array.from(order.subarray(0, size), (index) => ids[index] as string);
  });
}

/**
 * Slices the fixture at each cut set, loads every segment alone, chains the segments over the first
 * `inputs` serving samples and compares the logits with the whole model's.
 */
export async function sliceAndCompare(
  fixtureName: string,
  cutSets: (analysed: AnalysedFixture) => SliceCuts[],
  inputs: number,
  batchSize = 64,
): Promise<SlicingOutcome[]> {
  const analysed = await analysedFixture(fixtureName);
  const { fixture, model, analysis } = analysed;
  const batches = await servingBatches(fixture, inputs, batchSize);
  const reference = await runChain([encodeOnnxModel(model)], batches);
  const outcomes: SlicingOutcome[] = [];
  for (const cuts of cutSets(analysed)) {
    const segments = sliceModel(model, analysis, cuts);
    const loaded = [];
    for (const segment of segments) {
      const session = await openSession(segment.bytes, { intraOpThreads: 1 });
      loaded.push({ inputs: [...session.inputNames], outputs: [...session.outputNames] });
      await session.release();
    }
    const chained = await runChain(
      segments.map((segment) => segment.bytes),
      batches,
    );
    let maxLogitDiff = 0;
    chained.forEach((result, batch) => {
      const expected = floats(reference[batch] ?? {}, 'logits').data;
      maxLogitDiff = Math.max(maxLogitDiff, maxAbsDiff(floats(result, 'logits').data, expected));
    });
    const label = 'candidateIds' in cuts ? cuts.candidateIds.join(',') : `${cuts.positions.length} positions`;
    process.stdout.write(
      `${fixtureName} cut at [${label}]: max |logit diff| ${maxLogitDiff.toExponential(2)}\n`,
    );
    outcomes.push({ cuts, segments, loaded, maxLogitDiff });
  }
  return outcomes;
}

const TOLERANCE = 1e-4;

/** The slicing checks every fixture must pass; one test file per fixture keeps each file short. */
export function describeFixtureSlicing(FIXTURE: string): void {
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
}
