/**
 * The ramps' utility history, which the ramp adjuster decides on: per-batch utilities (ms per
 * input, one per active ramp) are averaged over `sampleInputs` inputs into one entry, and the
 * newest `historyLength` entries are kept per ramp. The online controller folds one batch at a
 * time; the scheduled controller folds a run's batches into the history it stores between runs.
 */
import { z } from 'zod';

export const utilityHistorySchema = z.object({
  /** The ramps the history belongs to (a changed ramp set starts a new one). */
  rampIds: z.array(z.string()),
  /** Per ramp, closed entries, oldest first. */
  history: z.array(z.array(z.number())),
  /** Per ramp, the input-weighted sum of the entry being filled, and its inputs so far. */
  sums: z.array(z.number()),
  inputs: z.number().int().nonnegative(),
});
export type UtilityHistory = z.infer<typeof utilityHistorySchema>;

/** An empty utility history for the ramps `rampIds`, as after a ramp change. */
export function emptyUtility(rampIds: readonly string[]): UtilityHistory {
  return { rampIds: [...rampIds], history: rampIds.map(() => []), sums: rampIds.map(() => 0), inputs: 0 };
}

/**
 * Folds per-batch utilities into the running entry, closing an entry every `sampleInputs` inputs
 * and keeping the newest `historyLength` entries per ramp. Returns a new history.
 */
export function foldUtility(
  utility: UtilityHistory,
  batches: readonly { readonly inputs: number; readonly utilities: readonly number[] }[],
  sampleInputs: number,
  historyLength: number,
): UtilityHistory {
  const history = utility.history.map((entries) => [...entries]);
  const sums = [...utility.sums];
  let inputs = utility.inputs;
  for (const batch of batches) {
    batch.utilities.forEach((u, k) => {
      sums[k] = (sums[k] ?? 0) + u * batch.inputs;
    });
    inputs += batch.inputs;
    if (inputs < sampleInputs) continue;
    history.forEach((entries, k) => {
      entries.push((sums[k] ?? 0) / inputs);
      if (entries.length > historyLength) entries.shift();
    });
    sums.fill(0);
    inputs = 0;
  }
  return { rampIds: utility.rampIds, history, sums, inputs };
}
