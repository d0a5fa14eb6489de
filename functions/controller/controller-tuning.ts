/**
 * The scheduled controller's tunables, their defaults, and the settings one run works with (the
 * tunables checked, with the deployment's constraint and ramp budget).
 */
import type { AdjusterOptions } from '../../core/control/ramp-adjuster';
import type { ScheduledSettings } from '../../core/control/scheduled-decision';
import { ACCURACY_CONSTRAINT, checkLimit, RAMP_BUDGET } from '../../core/control/limits';
import type { TuneOptions } from '../../core/control/threshold-tuner';
import { InputError } from '../../core/errors';
import { withoutUndefined } from '../../core/util/without-undefined';
import type { BundleManifest } from '../../core/bundle/manifest';

/** Tunables of the scheduled controller; every default is in `DEFAULT_CONTROLLER_TUNING`. */
export interface ControllerTuning {
  /** Inputs in the tuning window. */
  readonly windowInputs?: number;
  /** Inputs the window needs before a tune (fewer makes the tuner fit noise). */
  readonly minTuneInputs?: number;
  /** How far back logs are read to rebuild the window, ms. */
  readonly windowLookbackMs?: number;
  /** Logs of batches started in the last this many ms are left for the next run, ms. */
  readonly logSettleMs?: number;
  /** Per-tune change of the headroom per unit of served-agreement shortfall; 0 keeps it fixed. */
  readonly headroomGain?: number;
  /** Served inputs over which served agreement is measured for the headroom. */
  readonly servedHorizonInputs?: number;
  /** Served inputs summarised per utility-history entry. */
  readonly utilitySampleInputs?: number;
  /** Utility-history entries kept per ramp. */
  readonly utilityHistoryLength?: number;
  /** With the same ramps and no threshold lowered, a rise smaller than this publishes nothing. */
  readonly minThresholdIncrease?: number;
  readonly tuner?: Pick<TuneOptions, 'initialStep' | 'minStep' | 'maxRounds'>;
  readonly adjuster?: AdjusterOptions;
}

/**
 * Defaults. The window, minimum, horizon and utility sampling are the core controller's, so a
 * replay and the deployed loop judge on the same amounts of evidence. Ten minutes of lookback
 * holds a 512-input window down to about one request a second; ten seconds of settling covers the
 * exit-log writer's one-second flush and a few of its retries. The minimum rise is the tuner's
 * smallest step: a rise below it is the window shifting by an input or two, not new evidence.
 */
export const DEFAULT_CONTROLLER_TUNING = {
  windowInputs: 512,
  minTuneInputs: 64,
  windowLookbackMs: 10 * 60_000,
  logSettleMs: 10_000,
  // Per run, not per tune: the core controller moves its headroom by 0.05 × the shortfall every
  // tune (eight batches), and a run once a minute sees many tunes' worth of inputs. At 0.05 a run
  // would need some eighty runs (over an hour) to release the starting headroom and let any ramp
  // exit; at 1 it releases it within four runs and answers a 1% shortfall with 1% of headroom.
  headroomGain: 1,
  servedHorizonInputs: 1024,
  utilitySampleInputs: 64,
  utilityHistoryLength: 16,
  minThresholdIncrease: 0.001,
} as const;

/** What one run works with: every tunable, checked. */
export interface ControllerSettings
  extends Required<Omit<ControllerTuning, 'tuner' | 'adjuster'>>, ScheduledSettings {}

/** The run's settings from its dependencies; a value out of range is an `InputError` naming it. */
/** What the settings are taken from (`ControllerDeps` has all of it). */
export interface SettingsSource {
  readonly nowMs: number;
  readonly constraint?: number;
  readonly rampBudget?: number;
  readonly manifest: Pick<BundleManifest, 'rampBudget'>;
  readonly options?: ControllerTuning;
}

export function settingsOf(deps: SettingsSource): ControllerSettings {
  const tuning = { ...DEFAULT_CONTROLLER_TUNING, ...withoutUndefined(deps.options ?? {}) };
  if (!(Number.isFinite(deps.nowMs) && deps.nowMs >= 0)) {
    throw new InputError(`nowMs must be an epoch time in ms, got ${deps.nowMs}`);
  }
  const constraint = checkLimit(ACCURACY_CONSTRAINT, deps.constraint ?? ACCURACY_CONSTRAINT.default);
  const rampBudget = checkLimit(RAMP_BUDGET, deps.rampBudget ?? deps.manifest.rampBudget);
  for (const name of [
    'windowInputs',
    'minTuneInputs',
    'windowLookbackMs',
    'servedHorizonInputs',
    'utilitySampleInputs',
    'utilityHistoryLength',
  ] as const) {
    const value = tuning[name];
    if (!(Number.isSafeInteger(value) && value > 0)) {
      throw new InputError(`controller option ${name} must be a positive whole number, got ${value}`);
    }
  }
  for (const name of ['logSettleMs', 'headroomGain', 'minThresholdIncrease'] as const) {
    const value = tuning[name];
    if (!(Number.isFinite(value) && value >= 0)) {
      throw new InputError(`controller option ${name} must be a non-negative number, got ${value}`);
    }
  }
  return {
    ...tuning,
    constraint,
    rampBudget,
    tuner: deps.options?.tuner ?? {},
    adjuster: deps.options?.adjuster ?? {},
  };
}
