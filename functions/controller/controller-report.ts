/**
 * What one scheduled controller run read, decided and did: its return value and its log line.
 */
import type { AdjustReason } from '../../core/control/ramp-adjuster';
import type { ServedSummary, TuneSummary } from '../../core/control/scheduled-decision';

/** Why a run published nothing. */
export type UnchangedReason =
  'no-new-logs' | 'too-few-inputs' | 'same-config' | 'concurrent-run' | 'version-conflict';

/** Why a run published. */
export type PublishedReason = 'thresholds-tuned' | 'ramps-changed' | 'completed-pending';

/** What one run read, decided and did; also its log line. */
export interface ControllerRunReport {
  readonly model: string;
  readonly logs: {
    /** The range read, [fromMs, untilMs), epoch ms. */
    readonly fromMs: number;
    readonly untilMs: number;
    /** Batches started before this had been read by earlier runs. */
    readonly watermarkMs: number;
    readonly batches: number;
    readonly requests: number;
    readonly newBatches: number;
    readonly newRequests: number;
  };
  readonly inputs: {
    /** Inputs in the tuning window (observed by every current ramp). */
    readonly window: number;
    readonly minTuneInputs: number;
    /** New requests served with exactly the current ramp set (served agreement, utility). */
    readonly servedWithCurrentRamps: number;
    /** Requests read whose ramps do not include every current ramp; not used. */
    readonly otherRampSets: number;
    /** The padded batch size the latency model was taken at. */
    readonly batchSize: number;
  };
  /** The version serving before the run (the bundle's initial config's when the table has none). */
  readonly previousVersion: number;
  readonly newVersion: number | 'unchanged';
  readonly reason: UnchangedReason | PublishedReason;
  readonly detail: string;
  readonly ramps: { readonly before: string[]; readonly after: string[] };
  readonly thresholds: { readonly before: number[]; readonly after: number[] };
  readonly decisions: {
    readonly constraint: number;
    readonly rampBudget: number;
    /** Headroom after this run's update; the tuner aimed at min(1, constraint + headroom). */
    readonly headroom: number;
    readonly served: ServedSummary;
    readonly tune?: TuneSummary;
    readonly adjustment?: {
      readonly reason: AdjustReason;
      readonly detail: string;
      readonly added: string[];
      readonly removed: string[];
    };
  };
}
