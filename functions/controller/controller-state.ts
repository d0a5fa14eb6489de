/**
 * What the scheduled controller remembers between runs. The core controller keeps this in memory
 * for as long as it lives; a Lambda lives for one run, so the state is one small document in the
 * configs table (`ConfigStore.controllerState`, sort key -2). The sliding window itself is not
 * kept: it is rebuilt every run from the exit logs, which already hold it. Kept here is only what
 * the logs cannot give back:
 *
 * - `watermarkMs`: logs of batches started before it have been taken into account, which is what
 *   makes "no new logs, no new version" and "the same logs twice, one version" hold;
 * - the tuning headroom and the served agreement it follows (core/control/controller.ts explains
 *   the headroom);
 * - the utility history of the current ramp set, and the adjuster's damping memory;
 * - `pending`: the config a run decided to publish, so that a run that stopped after claiming its
 *   logs but before publishing is completed by the next one.
 *
 * The document is validated on the way in; one that fails (written by an incompatible version)
 * is replaced by a fresh one rather than wedging the controller.
 */
import { z } from 'zod';
import { rampConfigSchema, type RampConfig } from '../../core/bundle/manifest';
import { EMPTY_ADJUSTER_MEMORY } from '../../core/control/ramp-adjuster';

export const CONTROLLER_STATE_FORMAT = 1;

export const controllerStateSchema = z.object({
  formatVersion: z.literal(CONTROLLER_STATE_FORMAT),
  /** The bundle the state belongs to; another bundle (a new model file) starts afresh. */
  bundleSha256: z.string(),
  /** Logs of batches started before this (epoch ms) have been read. */
  watermarkMs: z.number().int().nonnegative(),
  /** Runs that claimed logs. */
  runs: z.number().int().nonnegative(),
  /** The tuner aims at `constraint + headroom`. */
  headroom: z.number().min(0).max(1),
  /** Served agreement per logged batch of the current ramp set, oldest first, within the horizon. */
  served: z.array(z.object({ inputs: z.number().int().positive(), correct: z.number().int().nonnegative() })),
  /** Utility history of the ramps `rampIds` (ms per input), and the entry being filled. */
  utility: z.object({
    rampIds: z.array(z.string()),
    history: z.array(z.array(z.number())),
    sums: z.array(z.number()),
    inputs: z.number().int().nonnegative(),
  }),
  /** The ramp adjuster's damping memory (candidate indices into the bundle). */
  adjuster: z.object({
    run: z.number().int().nonnegative(),
    leftSets: z.array(z.object({ key: z.string(), run: z.number().int() })),
    removedUseless: z.array(z.object({ candidate: z.number().int(), run: z.number().int() })),
  }),
  /** A config this controller decided to publish; completed by the next run if still missing. */
  pending: rampConfigSchema.optional(),
});
export type ControllerState = z.infer<typeof controllerStateSchema>;

/** The state before the first run on a bundle; `watermarkMs` carries over from a previous bundle's. */
export function freshControllerState(
  bundleSha256: string,
  headroom: number,
  watermarkMs = 0,
): ControllerState {
  return {
    formatVersion: CONTROLLER_STATE_FORMAT,
    bundleSha256,
    watermarkMs,
    runs: 0,
    headroom,
    served: [],
    utility: { rampIds: [], history: [], sums: [], inputs: 0 },
    adjuster: { ...EMPTY_ADJUSTER_MEMORY, leftSets: [], removedUseless: [] },
  };
}

/** The document to store: the state without undefined fields, which DynamoDB cannot hold. */
export function storableState(
  state: ControllerState,
  pending: RampConfig | undefined,
): Record<string, unknown> {
  const stored: Record<string, unknown> = { ...state };
  delete stored['pending'];
  if (pending !== undefined) stored['pending'] = pending;
  return stored;
}

/**
 * Adds served batches to the agreement history and keeps the newest `horizonInputs` inputs (at
 * least one batch), as the core controller does batch by batch.
 */
export function foldServed(
  served: ControllerState['served'],
  batches: readonly { inputs: number; correct: number }[],
  horizonInputs: number,
): ControllerState['served'] {
  const next = [...served, ...batches.map(({ inputs, correct }) => ({ inputs, correct }))];
  let total = next.reduce((sum, entry) => sum + entry.inputs, 0);
  while (next.length > 1 && total - (next[0]?.inputs ?? 0) >= horizonInputs) {
    total -= (next.shift() as { inputs: number }).inputs;
  }
  return next;
}

/** Served agreement over the history, and its input count. */
export function servedAgreement(served: ControllerState['served']): { inputs: number; agreement: number } {
  let inputs = 0;
  let correct = 0;
  for (const entry of served) {
    inputs += entry.inputs;
    correct += entry.correct;
  }
  return { inputs, agreement: inputs === 0 ? 1 : correct / inputs };
}

/**
 * Folds per-batch utilities (ms per input, one per ramp) into the running entry and closes an
 * entry every `sampleInputs` inputs, keeping the newest `historyLength` entries: the core
 * controller's rule, so the adjuster sees the same kind of history here as in a replay.
 */
export function foldUtility(
  utility: ControllerState['utility'],
  batches: readonly { inputs: number; utilities: readonly number[] }[],
  sampleInputs: number,
  historyLength: number,
): ControllerState['utility'] {
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

/** An empty utility history for the ramps `rampIds`, as after a ramp change. */
export function emptyUtility(rampIds: readonly string[]): ControllerState['utility'] {
  return { rampIds: [...rampIds], history: rampIds.map(() => []), sums: rampIds.map(() => 0), inputs: 0 };
}
