/**
 * Confirms the initial placement's cost before the bundle is written. Placement takes the cheapest
 * of several noisy per-candidate figures, so the cuts it chooses are, by construction, the ones
 * whose measurement ran lowest: their figures are biased low (on mnist-resnet a chosen cut charged
 * 1.2% measured 1.9–2.7% in fresh rounds; docs/benchmarks.md, "The chosen cut is the luckiest
 * measurement"). Confirmation times the chosen set again as served, in rounds it was not selected
 * on. Where that overruns what placement charged, the chosen cuts are charged the confirmed
 * overhead (shared in proportion to their figures) and placement runs again with the new figures,
 * until a placement is confirmed (at most one check per candidate, since every failed check raises
 * the figures of the cuts it chose): the budget then counts what the cuts cost, not what their
 * luckiest round said. A check that measures less leaves the figures alone.
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
  /** Each candidate's cut figure at the reference batch size, raised where a confirmation said so. */
  readonly cutMs: ReadonlyMap<string, number>;
  readonly checks: readonly PlacementCheck[];
}

/**
 * Runs `place` on the cut figures, `measure`s the chosen cuts together, and re-places while the
 * measurement exceeds the charge. `measure` gives the whole model cut at those candidates against
 * the whole model, in ms (cuts only: ramps are charged their own operators separately).
 */
export async function confirmPlacement(
  ids: readonly string[],
  initialCutMs: ReadonlyMap<string, number>,
  place: (cutMs: ReadonlyMap<string, number>) => readonly number[],
  measure: (chosenIds: readonly string[]) => Promise<number>,
  maxChecks = ids.length,
): Promise<ConfirmedPlacement> {
  const cutMs = new Map(initialCutMs);
  const checks: PlacementCheck[] = [];
  let chosen = place(cutMs);
  while (chosen.length > 0 && checks.length < maxChecks) {
    const chosenIds = chosen.map((index) => ids[index] as string);
    const chargedMs = chosenIds.reduce((sum, id) => sum + (cutMs.get(id) ?? 0), 0);
    const measuredMs = await measure(chosenIds);
    checks.push({ ids: chosenIds, chargedMs, measuredMs });
    if (measuredMs <= chargedMs) break;
    for (const id of chosenIds) {
      const figure = cutMs.get(id) ?? 0;
      cutMs.set(id, chargedMs > 0 ? (figure * measuredMs) / chargedMs : measuredMs / chosenIds.length);
    }
    chosen = place(cutMs);
  }
  return { chosen, cutMs, checks };
}
