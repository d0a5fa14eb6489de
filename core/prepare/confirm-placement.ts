/**
 * Confirms the initial placement's cost before the bundle is written. Placement takes the cheapest
 * of several noisy per-candidate figures, so the cuts it chooses are, by construction, the ones
 * whose measurement ran lowest: their figures are biased low (on mnist-resnet, chosen cuts charged
 * 0.9–1.7% measured 1.5–2.9% when timed again; docs/benchmarks.md, "The chosen cut is the luckiest
 * measurement"). Confirmation times the chosen set again as served, in rounds it was not selected
 * on, and charges each of its cuts that measurement (the set's total shared in proportion to
 * their figures), up or down: a measurement taken after the choice is not biased by it. Placement
 * then runs again on the new figures, until every cut it places has been measured this way.
 *
 * A cut measured more than once is charged the mean of its measurements, not the largest: raising
 * a figure on every high draw and never lowering it would bias the charge upward as surely as
 * choosing on the lowest draw biases it downward.
 */
/** One confirmation: the cuts checked, what placement charged for them and what they measured. */
export interface PlacementCheck {
  readonly ids: readonly string[];
  readonly chargedMs: number;
  readonly measuredMs: number;
}

export interface ConfirmedPlacement {
  /** Chosen candidate indices after the last placement. */
  readonly chosen: readonly number[];
  /** Each candidate's cut figure at the reference batch size: measured again where it was checked. */
  readonly cutMs: ReadonlyMap<string, number>;
  readonly checks: readonly PlacementCheck[];
}

function mean(values: readonly number[]): number {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

/**
 * Runs `place` on the cut figures, `measure`s the chosen cuts together, and re-places until every
 * chosen cut has been measured (each check measures at least one cut not measured before, so
 * `ids.length` checks always suffice). `measure` gives the whole model cut at those candidates
 * against the whole model, in ms (cuts only: ramps are charged their own operators separately).
 */
export async function confirmPlacement(
  ids: readonly string[],
  initialCutMs: ReadonlyMap<string, number>,
  place: (cutMs: ReadonlyMap<string, number>) => readonly number[],
  measure: (chosenIds: readonly string[]) => Promise<number>,
  maxChecks = ids.length,
): Promise<ConfirmedPlacement> {
  const measured = new Map<string, number[]>();
  const figures = (): Map<string, number> =>
    new Map(
      ids.map((id) => {
        const samples = measured.get(id);
        return [id, samples ? mean(samples) : (initialCutMs.get(id) ?? 0)];
      }),
    );
  let cutMs = figures();
  let chosen = place(cutMs);
  const checks: PlacementCheck[] = [];
  while (chosen.length > 0 && checks.length < maxChecks) {
    const chosenIds = chosen.map((index) => ids[index] as string);
    if (chosenIds.every((id) => measured.has(id))) break;
    const chargedMs = chosenIds.reduce((sum, id) => sum + (cutMs.get(id) ?? 0), 0);
    const measuredMs = await measure(chosenIds);
    checks.push({ ids: chosenIds, chargedMs, measuredMs });
    for (const id of chosenIds) {
      const share =
        chargedMs > 0 ? ((cutMs.get(id) ?? 0) * measuredMs) / chargedMs : measuredMs / chosenIds.length;
      measured.set(id, [...(measured.get(id) ?? []), share]);
    }
    cutMs = figures();
    chosen = place(cutMs);
  }
  return { chosen, cutMs, checks };
}

/**
 * A cut's figures at every profiled batch size, with the reference size's figure replaced by the
 * confirmed one and the other sizes scaled by the same ratio. Confirmation only times the
 * reference size, but the selection bias it corrects is in the cut's screening figures at every
 * size (they were all measured in the same screening rounds), and the controllers charge a ramp
 * its cut at whatever batch size they plan for. A cut that was never checked keeps its figures.
 */
export function scaleToConfirmed(
  screenedMs: readonly number[],
  referenceSlot: number,
  confirmedMs: number | undefined,
): number[] {
  const screened = screenedMs[referenceSlot];
  if (confirmedMs === undefined || screened === undefined) return [...screenedMs];
  const ratio = screened > 0 ? confirmedMs / screened : 1;
  return screenedMs.map((ms, slot) => (slot === referenceSlot ? confirmedMs : ms * ratio));
}
