/**
 * What the scheduled controller remembers between runs. The core controller keeps this in memory
 * for as long as it lives; a Lambda lives for one run, so the state is one small document in the
 * configs table (`ConfigStore.controllerState`, sort key -2). The sliding window itself is not
 * kept: it is rebuilt every run from the exit logs, which already hold it. Kept here is only what
 * the logs cannot give back:
 *
 * - `watermarkMs`: logs of batches started before it have been taken into account, which is what
 *   makes "no new logs, no new version" and "the same logs twice, one version" hold;
 * - the tuning headroom and the served agreement it follows (core/control/headroom.ts and
 *   served-history.ts);
 * - the utility history of the current ramp set (core/control/utility-history.ts), and the
 *   adjuster's damping memory;
 * - `pending`: the config a run decided to publish, so that a run that stopped after claiming its
 *   logs but before publishing is completed by the next one.
 *
 * The document is validated on the way in; one that fails (written by an incompatible version)
 * is replaced by a fresh one rather than wedging the controller.
 */
import { z } from 'zod';
import { rampConfigSchema, type RampConfig } from '../../core/control/ramp-config';
import { EMPTY_ADJUSTER_MEMORY } from '../../core/control/ramp-adjuster';
import { servedHistorySchema } from '../../core/control/served-history';
import { emptyUtility, utilityHistorySchema } from '../../core/control/utility-history';

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
  served: servedHistorySchema,
  /** Utility history of the ramps `rampIds` (ms per input), and the entry being filled. */
  utility: utilityHistorySchema,
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
    utility: emptyUtility([]),
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
