import { chooseInitialRamps, mostSaving } from '../../core/prepare/initial-config';
import { MEDIAN_COVER, mostMiddleSaving, setSaving } from '../../core/prepare/middle-saving';
import { wilsonLowerBound } from '../../core/util/stats';

/** A 10 ms model: position i ends after `depths[i]` of it, costs `rampMs[i]`, releases `shares[i]`. */
const positionsOf = (depths: readonly number[], rampMs: readonly number[], shares: readonly number[]) =>
  depths.map((depth, i) => ({
    id: `c${i}`,
    backboneMs: depth * 10,
    rampMs: rampMs[i] as number,
    exitShare: shares[i] as number,
  }));

describe('a ramp set scored for the median input and on average', () => {
  it('scores what the inputs it covers save and what is saved on average, both net of cost', () => {
    // Given c0 at 10% of the model releasing 70% of inputs and c1 at 50% releasing all the rest,
    // 0.1 ms each
    const positions = positionsOf([0.1, 0.5], [0.1, 0.1], [0.7, 1]);
    const saving = setSaving(positions, 10, [0, 1]);
    // Then 70% leave at c0 (covering MEDIAN_COVER) saving 90%, the rest at c1 saving 50%; 2% cost
    expect(MEDIAN_COVER).toBeLessThanOrEqual(0.7);
    expect(saving.covered).toBeCloseTo(0.9 - 0.02, 9);
    expect(saving.mean).toBeCloseTo(0.7 * 0.9 + 0.3 * 0.5 - 0.02, 9);
    expect(saving.score).toBeCloseTo((saving.covered + saving.mean) / 2, 12);
  });

  it('counts a saving as covered only once enough inputs have left', () => {
    // Given one ramp releasing fewer inputs than MEDIAN_COVER
    const positions = positionsOf([0.1], [0.1], [MEDIAN_COVER - 0.1]);
    // Then the inputs it covers save nothing but pay its cost
    expect(setSaving(positions, 10, [0]).covered).toBeCloseTo(-0.01, 9);
  });

  it('prefers a shallow ramp releasing most inputs to a deeper one the average ranks above it', () => {
    // Given the depths and held-out shares of one preparation of mnist-resnet: c0 at 11% releasing
    // 65%, c1 at 24% releasing 85%, c2 at 36% releasing 93%, each costing 1.2–1.5% of the model,
    // so that one fits the 2% budget
    const positions = positionsOf([0.113, 0.238, 0.364], [0.12, 0.15, 0.14], [0.65, 0.85, 0.925]);
    const byMean = mostSaving(positions, 10, 2, 0.2);
    const placement = chooseInitialRamps(positions, 10, 0.02);
    // Then the average alone takes c1 (0.85 × 0.76 against 0.65 × 0.89), the median input c0
    expect(byMean).toEqual([1]);
    expect(placement.chosen).toEqual([0]);
  });

  it('still adds a ramp behind the first where it saves the inputs the first leaves', () => {
    // Given c1 releasing half the inputs and c4 all the rest, each 0.5% of the model
    const positions = positionsOf(
      [0.2, 0.3, 0.4, 0.5, 0.6],
      [0.05, 0.05, 0.05, 0.05, 0.05],
      [0, 0.5, 0, 0, 1],
    );
    // Then both, though c4 alone covers nearly as much of the median for less
    expect(chooseInitialRamps(positions, 10, 0.02).chosen).toEqual([1, 4]);
  });

  it('never overruns the budget and never does worse than its seed when the search is cut short', () => {
    // Given 24 candidates, every one cheap enough that any dozen fit: more sets than it looks at
    const count = 24;
    const positions = positionsOf(
      Array.from({ length: count }, (_, i) => (i + 1) / (count + 1)),
      new Array(count).fill(0.01),
      Array.from({ length: count }, (_, i) => (i % 3 === 2 ? 0.6 : 0.2)),
    );
    const budgetMs = 0.12;
    const seed = mostSaving(positions, 10, count - 1, budgetMs);
    const chosen = mostMiddleSaving(positions, 10, count - 1, budgetMs, seed);
    const spent = chosen.reduce((sum, i) => sum + (positions[i]?.rampMs ?? 0), 0);
    expect(spent).toBeLessThanOrEqual(budgetMs + 1e-12);
    expect(chosen).toEqual([...chosen].sort((a, b) => a - b));
    expect(setSaving(positions, 10, chosen).score).toBeGreaterThanOrEqual(
      setSaving(positions, 10, seed).score,
    );
  });

  it('doubts a share by how few held-out inputs measured it', () => {
    // Then a share seen on no inputs is taken as it is, one seen on more is bounded closer to it,
    // and every input released still leaves room below 1
    expect(wilsonLowerBound(0.7, 0)).toBe(0.7);
    expect(wilsonLowerBound(1, 100)).toBeCloseTo(0.974, 3);
    expect(wilsonLowerBound(1, 1000)).toBeGreaterThan(wilsonLowerBound(1, 100));
    expect(wilsonLowerBound(0.5, 100)).toBeLessThan(0.5);
    expect(wilsonLowerBound(0, 100)).toBe(0);
  });

  it('places a cheap ramp behind one that released every held-out input', () => {
    // Given c0 at 15% and c1 at 35% of the model, each releasing all 100 held-out inputs and
    // costing 0.2% of it (an exit tap and its head)
    const measured = positionsOf([0.15, 0.35], [0.02, 0.02], [1, 1]);
    const counted = measured.map((p) => ({ ...p, heldOutInputs: 100 }));
    // Then taken at face value nothing passes c0 and c1 only costs; with the count behind the
    // shares, c0 may leave a few in a hundred, and c1 saving 65% of the model for them pays
    expect(chooseInitialRamps(measured, 10, 0.02).chosen).toEqual([0]);
    expect(chooseInitialRamps(counted, 10, 0.02).chosen).toEqual([0, 1]);
    // And the median input is still judged by the measured shares
    expect(setSaving(counted, 10, [0]).covered).toBeCloseTo(setSaving(measured, 10, [0]).covered, 12);
    expect(setSaving(counted, 10, [0]).mean).toBeLessThan(setSaving(measured, 10, [0]).mean);
  });

  it('chooses nothing when no set saves more than it costs on average', () => {
    const positions = positionsOf([0.1, 0.5], [0.1, 0.1], [0, 0]);
    expect(mostMiddleSaving(positions, 10, 1, 0.2)).toEqual([]);
  });
});
