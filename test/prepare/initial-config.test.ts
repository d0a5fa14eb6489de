import {
  cheapestNear,
  chooseInitialRamps,
  mostSaving,
  nearestFitting,
  spreadEvenly,
} from '../../core/prepare/initial-config';

const positions = (rampMs: number) =>
  Array.from({ length: 9 }, (_, i) => ({ id: `c${i}`, backboneMs: (i + 1) * 1.0, rampMs }));

/** Positions with the given ramp costs, each block `blockMs` deeper than the one before. */
const positionsCosting = (rampMs: readonly number[], blockMs = 1.0) =>
  rampMs.map((ms, i) => ({ id: `c${i}`, backboneMs: (i + 1) * blockMs, rampMs: ms }));

describe('initial ramp placement', () => {
  it('spreads ramps evenly from the first candidate, clear of the latest position', () => {
    expect(spreadEvenly(1, 8)).toEqual([0]);
    expect(spreadEvenly(3, 8)).toEqual([0, 3, 5]);
    expect(spreadEvenly(2, 0)).toEqual([0]);
  });

  it('places as many ramps as the budget allows, no deeper than the latest useful position', () => {
    // Given nine blocks of 1 ms in a 10 ms model and ramps of 0.06 ms
    const placement = chooseInitialRamps(positions(0.06), 10, 0.02);

    // Then every ramp but the ninth is useful, and three ramps fit in 2% of 10 ms
    expect(placement.latestUseful).toBe(8);
    expect(placement.chosen).toEqual([0, 3, 5]);
    expect(placement.overheadFraction).toBeCloseTo(0.018, 6);
  });

  it('places nothing when no single ramp fits the budget', () => {
    const placement = chooseInitialRamps(positions(0.5), 10, 0.02);
    expect(placement.chosen).toEqual([]);
    expect(placement.overheadFraction).toBe(0);
  });

  it('treats a position whose exit is not faster than the plain model as useless', () => {
    const placement = chooseInitialRamps([{ id: 'c0', backboneMs: 9.99, rampMs: 0.02 }], 10, 0.02);
    expect(placement.latestUseful).toBeNull();
  });

  it('moves a spread position to a clearly cheaper cut of its own stretch, never onto a neighbour’s', () => {
    // Given cuts that cost 0.1 ms except two cheap ones, between stages (c2 and c5)
    const costs = [0.1, 0.1, 0.03, 0.1, 0.1, 0.03, 0.1, 0.1, 0.1];
    // When three ramps are spread over c0..c8 (c0, c3, c5) and nudged
    const moved = cheapestNear(spreadEvenly(3, 8), 8, (i) => costs[i] as number);
    // Then c3 moves to the cheap c2, c5 stays, and c0 keeps its stretch
    expect(moved).toEqual([0, 2, 5]);
    // And a neighbour only a little cheaper does not move a position
    expect(cheapestNear([0, 3, 5], 8, (i) => (i === 4 ? 0.098 : 0.1))).toEqual([0, 3, 5]);
  });

  it('fits more ramps in the budget when it can use the cheap cuts', () => {
    // Given a 10 ms model where most cuts cost 0.09 ms and the stage boundaries 0.03 ms
    const rampMs = [0.09, 0.09, 0.03, 0.09, 0.09, 0.03, 0.09, 0.09, 0.09];
    const placement = chooseInitialRamps(positionsCosting(rampMs), 10, 0.02);
    // Then three ramps fit (0.09 + 0.03 + 0.03 = 1.5% of 10 ms), where evenly spread ones (2.1%) would not
    expect(placement.chosen).toEqual([0, 2, 5]);
    expect(placement.overheadFraction).toBeCloseTo(0.015, 6);
  });

  it('gathers ramps where cuts are cheap when every cut of a stretch overruns the budget', () => {
    // Given a 10 ms model whose three shallow cuts cost 0.16 ms and the rest 0.05 ms
    const rampMs = [0.16, 0.16, 0.16, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05];
    const placement = chooseInitialRamps(positionsCosting(rampMs), 10, 0.02);
    // Then four ramps fit (4 x 0.05 = 2% of 10 ms), as near their even spread (c0, c2, c4, c6) as
    // the budget allows, rather than the one shallow ramp that the spread would otherwise keep
    expect(placement.chosen).toEqual([3, 4, 5, 6]);
    expect(placement.overheadFraction).toBeCloseTo(0.02, 6);
  });

  it('finds the nearest placement that fits, and says when none does', () => {
    const costs = [0.3, 0.1, 0.1, 0.1, 0.3];
    const cost = (i: number) => costs[i] as number;
    // The exact spread (0 and 4) costs 0.6; the nearest that fits 0.25 is 1 and 3 (distance 2)
    expect(nearestFitting([0, 4], 4, cost, 0.25)).toEqual([1, 3]);
    // Within 0.45, 0 and 3 (distance 1, cost 0.4) fit and beat 1 and 3 (distance 2)
    expect(nearestFitting([0, 4], 4, cost, 0.45)).toEqual([0, 3]);
    // Everything fits a large budget: the targets themselves
    expect(nearestFitting([0, 4], 4, cost, 1)).toEqual([0, 4]);
    // Three ramps never fit 0.25
    expect(nearestFitting([0, 2, 4], 4, cost, 0.25)).toBeNull();
    // Ties in distance go to the cheaper: targets 1 and 2 over costs where 0 is cheaper than 3
    expect(nearestFitting([1, 2], 3, (i) => [0.01, 0.5, 0.5, 0.2][i] as number, 0.6)).toEqual([0, 2]);
  });

  it('keeps a lone ramp shallow rather than sliding it to the cheapest cut of the model', () => {
    // Given a 10 ms model whose first cut overruns the 2% budget and whose last is much the cheapest
    const rampMs = [0.25, 0.19, 0.19, 0.19, 0.19, 0.19, 0.19, 0.19, 0.05];
    const placement = chooseInitialRamps(positionsCosting(rampMs), 10, 0.02);
    // Then one ramp fits, at the shallowest position that fits, not at the cheap c8
    expect(placement.chosen).toEqual([1]);
  });

  it('places as many ramps as fit among many candidates, stopping once no more can fit', () => {
    // Given forty candidates of a 10 ms model, ramps of 0.03 ms and the shallowest five dearer
    const rampMs = Array.from({ length: 40 }, (_, i) => (i < 5 ? 0.3 : 0.03));
    const placement = chooseInitialRamps(positionsCosting(rampMs, 0.24), 10, 0.02);
    // Then six ramps fit (6 x 0.03 = 1.8% of 10 ms), gathered just past the dear ones where the
    // spread would have put the first, and the others where the spread puts them
    expect(placement.chosen).toHaveLength(6);
    expect(placement.chosen[0]).toBe(5);
    expect(placement.chosen.slice(1)).toEqual(spreadEvenly(6, placement.latestUseful ?? 0).slice(1));
    expect(placement.overheadFraction).toBeCloseTo(0.018, 6);
  });
});

describe('initial ramp placement by expected saving (held-out exit shares known)', () => {
  /** A 10 ms model with candidates every `blockMs`, each with its ramp cost and exit share. */
  const withShares = (rampMs: readonly number[], shares: readonly number[], blockMs = 1.0) =>
    positionsCosting(rampMs, blockMs).map((p, i) => ({ ...p, exitShare: shares[i] as number }));

  it('takes one shallow ramp that releases most inputs over two deep ones that fit the same budget', () => {
    // Given a shallow c0 (10% deep) that releases 80% of inputs, costing 1.8%, and deep c6, c7
    // releasing everything at 0.9% each
    const positions = withShares(
      [0.18, 0.1, 0.1, 0.1, 0.1, 0.1, 0.09, 0.09, 0.1],
      [0.8, 0, 0, 0, 0, 0, 1, 1, 1],
    );
    const placement = chooseInitialRamps(positions, 10, 0.02);
    // Then c0 alone: it saves 0.9 × 0.8 = 72% of the latency expected, c6 + c7 at most 30%
    expect(placement.chosen).toEqual([0]);
    expect(placement.overheadFraction).toBeCloseTo(0.018, 6);
  });

  it('adds a deeper ramp for what the first leaves behind when that saves more than it costs', () => {
    // Given c1 releasing half the inputs and c4 releasing all the rest, each 0.5% of the model
    const shares = [0, 0.5, 0, 0, 1, 0, 0, 0, 0];
    const placement = chooseInitialRamps(withShares(new Array(9).fill(0.05), shares), 10, 0.02);
    // Then both: c4 saves 0.5 × 0.5 = 25% more for 0.5%
    expect(placement.chosen).toEqual([1, 4]);
  });

  it('adds nothing behind a ramp that releases every input, since a second ramp would only cost', () => {
    const shares = [0, 1, 1, 1, 1, 1, 1, 1, 1];
    const placement = chooseInitialRamps(withShares(new Array(9).fill(0.05), shares), 10, 0.02);
    expect(placement.chosen).toEqual([1]);
  });

  it('never overruns the budget, even with costs just under a step of it', () => {
    // Given nine ramps of 0.0667 ms against a 0.2 ms budget: three (0.2001 ms) would overrun it
    const positions = withShares(new Array(9).fill(0.0667), new Array(9).fill(0.3), 1.0);
    const chosen = mostSaving(positions, 10, 8, 0.2);
    expect(chosen.reduce((sum, i) => sum + (positions[i]?.rampMs ?? 0), 0)).toBeLessThanOrEqual(0.2);
    expect(chosen).toHaveLength(2);
  });

  it('spreads the ramps as without shares when no set is expected to save more than it costs', () => {
    const positions = withShares(new Array(9).fill(0.06), new Array(9).fill(0));
    const placement = chooseInitialRamps(positions, 10, 0.02);
    expect(placement.chosen).toEqual([0, 3, 5]);
  });
});
