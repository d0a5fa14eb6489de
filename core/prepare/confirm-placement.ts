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
 *
 * The same bias runs the other way for the cuts placement passed over: a cut whose one screening
 * reading ran high stays out, however much it would save. So once every placed cut has been
 * measured, placement is run once more on optimistic figures, every cut not yet measured charged
 * `slackMs` less (a reading's noise on the host); where that placement would take such a cut, the
 * set it chose is measured too, and placement runs again on the figures, as above. A passed-over
 * cut is so measured a second time only where it could change the choice, and what it measures
 * stands whichever way it went: the second reading is not selected on. On mnist-resnet the cut at
 * the first candidate, the one expected to save most, read 0.5–2.7% of the model between
 * preparations on one host, against 1.66% of room beside its ramp in the 2% budget
 * (docs/benchmarks.md, "Near misses").
 */
/**
 * Why a set was checked: placement chose it (`chosen`), or would have on figures a reading's noise
 * lower for the cuts not yet measured (`near-miss`).
 */
export type PlacementCheckReason = 'chosen' | 'near-miss';

/** One confirmation: the cuts checked, what placement charged for them and what they measured. */
export interface PlacementCheck {
  readonly ids: readonly string[];
  readonly chargedMs: number;
  readonly measuredMs: number;
  /** Absent in bundles prepared before near misses were checked, where every check was `chosen`. */
  readonly reason?: PlacementCheckReason;
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

export interface ConfirmOptions {
  /** Most checks (default: one per candidate, which always suffices). */
  readonly maxChecks?: number;
  /** How much lower a cut not yet measured might read, ms; 0 (the default) checks no near miss. */
  readonly slackMs?: number;
}

/**
 * Runs `place` on the cut figures, `measure`s the chosen cuts together, and re-places until every
 * chosen cut has been measured; then does the same for the set placement would choose with the
 * unmeasured cuts `slackMs` cheaper, while that set holds one (each check measures at least one
 * cut not measured before, so `ids.length` checks always suffice). `measure` gives the whole model
 * cut at those candidates against the whole model, in ms (cuts only: ramps are charged their own
 * operators separately).
 */
export async function confirmPlacement(
  ids: readonly string[],
  initialCutMs: ReadonlyMap<string, number>,
  place: (cutMs: ReadonlyMap<string, number>) => readonly number[],
  measure: (chosenIds: readonly string[]) => Promise<number>,
  options: ConfirmOptions = {},
): Promise<ConfirmedPlacement> {
  const maxChecks = options.maxChecks ?? ids.length;
  const slackMs = options.slackMs ?? 0;
  const measured = new Map<string, number[]>();
  const figures = (): Map<string, number> =>
    new Map(
      ids.map((id) => {
        const samples = measured.get(id);
        return [id, samples ? mean(samples) : (initialCutMs.get(id) ?? 0)];
      }),
    );
  const unmeasured = (indices: readonly number[]) =>
    indices.some((index) => !measured.has(ids[index] as string));
  /** The figures with every cut not yet measured `slackMs` cheaper (never below zero). */
  const optimistic = (): Map<string, number> =>
    new Map([...figures()].map(([id, ms]) => [id, measured.has(id) ? ms : Math.max(0, ms - slackMs)]));
  let cutMs = figures();
  let chosen = place(cutMs);
  const checks: PlacementCheck[] = [];
  while (checks.length < maxChecks) {
    let toCheck = chosen;
    let reason: PlacementCheckReason = 'chosen';
    if (!unmeasured(chosen)) {
      if (!(slackMs > 0)) break;
      toCheck = place(optimistic());
      reason = 'near-miss';
      if (!unmeasured(toCheck)) break;
    }
    const chosenIds = toCheck.map((index) => ids[index] as string);
    const chargedMs = chosenIds.reduce((sum, id) => sum + (cutMs.get(id) ?? 0), 0);
    const measuredMs = await measure(chosenIds);
    checks.push({ ids: chosenIds, chargedMs, measuredMs, reason });
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
