/**
 * Served agreement over a horizon: per served batch, how many inputs it had and how many of their
 * released answers agreed with the full model, newest last, trimmed to the newest `horizonInputs`
 * inputs (always at least one batch). The tuning headroom follows it (headroom.ts). The online
 * controller folds one batch at a time; the scheduled controller folds a run's batches into the
 * history it stores between runs. Both use these functions, so both judge the same evidence.
 */
import { z } from 'zod';

export const servedHistorySchema = z.array(
  z.object({ inputs: z.number().int().positive(), correct: z.number().int().nonnegative() }),
);
/** Served batches, oldest first, within the horizon. */
export type ServedHistory = z.infer<typeof servedHistorySchema>;

/**
 * The served history kept incrementally, for the online controller, which adds one batch at a
 * time: the same trimming rule as `foldServed`, with running totals instead of a copy per batch.
 */
export class ServedTally {
  private readonly entries: { inputs: number; correct: number }[];
  private inputs = 0;
  private correct = 0;

  constructor(
    private readonly horizonInputs: number,
    history: ServedHistory = [],
  ) {
    this.entries = [];
    for (const entry of history) this.add(entry.inputs, entry.correct);
  }

  /** Adds one served batch, then drops the oldest while the rest still cover the horizon. */
  add(inputs: number, correct: number): void {
    this.entries.push({ inputs, correct });
    this.inputs += inputs;
    this.correct += correct;
    while (this.entries.length > 1 && this.inputs - (this.entries[0]?.inputs ?? 0) >= this.horizonInputs) {
      const oldest = this.entries.shift() as { inputs: number; correct: number };
      this.inputs -= oldest.inputs;
      this.correct -= oldest.correct;
    }
  }

  /** Served agreement over the history (1 when empty), and how many inputs it covers. */
  get agreement(): { inputs: number; agreement: number } {
    return { inputs: this.inputs, agreement: this.inputs === 0 ? 1 : this.correct / this.inputs };
  }

  /** The history as stored between runs. */
  toHistory(): ServedHistory {
    return this.entries.map((entry) => ({ ...entry }));
  }
}

/** Adds served batches and keeps the newest `horizonInputs` inputs (at least one batch). */
export function foldServed(
  served: ServedHistory,
  batches: readonly { readonly inputs: number; readonly correct: number }[],
  horizonInputs: number,
): ServedHistory {
  const tally = new ServedTally(horizonInputs, served);
  for (const { inputs, correct } of batches) tally.add(inputs, correct);
  return tally.toHistory();
}

/** Served agreement over the history (1 when empty), and how many inputs it covers. */
export function servedAgreement(served: ServedHistory): { inputs: number; agreement: number } {
  return new ServedTally(Infinity, served).agreement;
}
