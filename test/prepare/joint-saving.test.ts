/**
 * Judging a set of ramps on the same inputs together: a deep ramp that releases most inputs on its
 * own is worth nothing behind a shallow one that already releases those very inputs.
 */
import { chooseInitialRamps, type PositionCost } from '../../core/prepare/initial-config';
import { jointSetSaving, PLACEMENT_AGREEMENT } from '../../core/prepare/joint-saving';
import type { RampObservations } from '../../core/prepare/joint-saving';

const INPUTS = 100;

/** A ramp sure and right on `sure` inputs, unsure and wrong on the others. */
function ramp(sure: (i: number) => boolean): RampObservations {
  const confidence = new Float32Array(INPUTS);
  const agrees = new Uint8Array(INPUTS);
  for (let i = 0; i < INPUTS; i++) {
    confidence[i] = sure(i) ? 0.99 : 0.5;
    agrees[i] = sure(i) ? 1 : 0;
  }
  return { confidence, agrees };
}

/**
 * Three positions of a 10 ms model, two of which fit the 2% budget: c0 at a tenth releases inputs
 * 0-59; c1 at 30% releases 0-69, the same inputs and ten more; c2 at half releases 60-99, exactly
 * the ones c0 leaves, and only those.
 */
const positions: PositionCost[] = [
  { id: 'c0', backboneMs: 1, rampMs: 0.09, exitShare: 0.6, observations: ramp((i) => i < 60) },
  { id: 'c1', backboneMs: 3, rampMs: 0.09, exitShare: 0.7, observations: ramp((i) => i < 70) },
  { id: 'c2', backboneMs: 5, rampMs: 0.09, exitShare: 0.4, observations: ramp((i) => i >= 60) },
];

describe('joint set saving', () => {
  it('counts only what a deeper ramp releases beyond the ramps before it', () => {
    const redundant = jointSetSaving(positions, 10, [0, 1]);
    const complementary = jointSetSaving(positions, 10, [0, 2]);
    // c1 adds inputs 60-69, saving 70% of the model each; c2 adds all of 60-99, saving half each
    expect(redundant.released).toBeCloseTo(0.7, 6);
    expect(complementary.released).toBeCloseTo(1, 6);
    expect(redundant.mean).toBeCloseTo(0.6 * 0.9 + 0.1 * 0.7 - 0.018, 6);
    expect(complementary.mean).toBeCloseTo(0.6 * 0.9 + 0.4 * 0.5 - 0.018, 6);
    // The median input leaves at c0 in both
    expect(redundant.covered).toBeCloseTo(0.9 - 0.018, 6);
    expect(complementary.covered).toBeCloseTo(0.9 - 0.018, 6);
  });

  it('places the ramp that catches what the first leaves, where independent shares place the other', () => {
    // Without observations each share is taken as independent of the ramps before it: c1's 0.7
    // of c0's leftovers at 70% saved outranks c2's 0.4 at half
    const blind = positions.map(({ observations: _unused, ...rest }) => rest);
    expect(chooseInitialRamps(blind, 10, 0.02).chosen).toEqual([0, 1]);
    // Judged together on the same inputs, c2 goes behind c0, and the set releases every input
    const placement = chooseInitialRamps(positions, 10, 0.02);
    expect(placement.chosen).toEqual([0, 2]);
    expect(placement.expectedRelease).toBeCloseTo(1, 6);
  });

  it('tunes sets above the constraint, where serving holds them', () => {
    expect(PLACEMENT_AGREEMENT).toBeCloseTo(0.995, 9);
    // A wrong but sure answer among 100 breaks 99.5%: c0 then keeps its sure-and-right inputs only
    // if its threshold stays below the wrong one's confidence
    const wrongSure = ramp((i) => i < 60);
    wrongSure.confidence[0] = 0.999;
    wrongSure.agrees[0] = 0;
    const withWrong: PositionCost[] = [{ ...(positions[0] as PositionCost), observations: wrongSure }];
    expect(jointSetSaving(withWrong, 10, [0]).released).toBe(0);
    expect(jointSetSaving(withWrong, 10, [0], 0.98).released).toBeCloseTo(0.6, 6);
  });
});
