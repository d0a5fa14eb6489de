/**
 * The online controller: the threshold tuner, the local guard and the ramp adjuster tied together
 * the way the worker, the scheduled controller and the replay simulator all use them: feed it
 * each served batch's observations, apply the config it returns. It holds no timers and does no
 * I/O; time is counted in batches and inputs, so a replay reproduces a live run exactly.
 *
 * Per batch, in this order:
 * 1. The batch joins a sliding window of the newest `windowInputs` inputs of the current ramp set
 *    (the window is wiped when the set changes, since new ramps have no past observations).
 * 2. If the window misses the constraint under the current thresholds, the local guard lowers
 *    thresholds at once (only down), so a safe config exists even if no tune follows.
 * 3. A retune runs on the first batch, after every ramp change, when the latest batch or the
 *    window missed the constraint, and every `tunePeriodBatches` batches, provided the window
 *    holds at least `minTuneInputs` inputs (otherwise it waits, keeping the request).
 *    A retune starts from zero, so its result depends on the window only, not on the path.
 * 4. Every `adjustPeriodBatches` batches the ramp adjuster runs on the ramps' utility histories,
 *    and on the lanes' busy share where the caller reports one (no growth at 0.8 or more).
 *
 * Tuning headroom. Thresholds tuned to meet the constraint exactly on a window are optimistic
 * about the inputs that follow: the greedy search picks the moves that happened to go well on
 * those very inputs. On seeded synthetic streams, thresholds tuned at 99% on 512 inputs served
 * about 97.7% to later inputs, and still 98.5% when tuned on 2 048. So the tuner aims at
 * `constraint + headroom`, and the headroom follows the agreement actually served over the last
 * `servedHorizonInputs` inputs: each tune adds `headroomGain × shortfall`, and a surplus takes
 * it back at a quarter of that rate, within [0, 1 − constraint]. The guard still uses the
 * constraint itself. Setting `headroomGain` to 0 keeps the headroom fixed.
 *
 * Defaults chosen here (the design guide does not fix them): retune every 8 batches, adjust every
 * 32, at least 64 inputs before a tune (fewer makes the tuner fit noise: with under 100 inputs a
 * 99% constraint allows no wrong exit at all, so a few lucky inputs would justify any
 * threshold), one utility entry per 64 served inputs, 16 entries kept, starting headroom the whole
 * `1 − constraint`, headroom gain 0.05 over 1 024 served inputs.
 */
import { InputError } from '../errors';
import { configCosts, costsAtBatch, latestUsefulIndex, validateProfile, type CostProfile } from './costs';
import { evaluateConfig, meetsConstraint } from './exit-rule';
import { nextHeadroom, tuningTarget } from './headroom';
import { ACCURACY_CONSTRAINT, checkLimit, RAMP_BUDGET } from './limits';
import {
  checkBusyShare,
  RampAdjuster,
  type AdjustDecision,
  type AdjusterOptions,
  type RetuneOutcome,
} from './ramp-adjuster';
import { utilityFromExitRates } from './ramp-utility';
import { appendToWindow, emptyWindow, validateWindow, type ExitWindow } from './records';
import type { RampConfig } from './ramp-config';
import { ServedTally } from './served-history';
import { lowerThresholdsToMeetConstraint, tuneThresholds, type TuneOptions } from './threshold-tuner';
import { emptyUtility, foldUtility, type UtilityHistory } from './utility-history';

/**
 * What the caller knows of the serving load when it hands over a batch. The adjuster adds no ramp
 * while the lanes are busy `GROWTH_BUSY_LIMIT` of the time or more (ramp-adjuster.ts); a replay
 * or a controller that cannot see the lanes leaves it out, and growth is judged as before.
 */
export interface ServingLoad {
  /** Share of recent wall time the serving lanes ran batches (lane-occupancy.ts), in [0, 1]. */
  readonly lanesBusyShare?: number;
}

/** Construction options; every default is documented in the file comment. */
export interface ControllerOptions {
  /** Candidates (shallow to deep) with per-batch-size timings, and the plain model's. */
  readonly profile: CostProfile;
  /** Config to start from; ramps by candidate id. Without a version it starts at 0. */
  readonly initialConfig: Omit<RampConfig, 'version'> & Partial<Pick<RampConfig, 'version'>>;
  /** Minimum window agreement with the full model, in the accuracy constraint's range (default 0.99). */
  readonly constraint?: number;
  /** Share of the plain model's latency the ramps may add, in the ramp budget's range (default 0.02). */
  readonly rampBudget?: number;
  /** Inputs in the sliding window (default 512). */
  readonly windowInputs?: number;
  /** Batches between periodic retunes (default 8). */
  readonly tunePeriodBatches?: number;
  /** Batches between ramp adjustments (default 32). */
  readonly adjustPeriodBatches?: number;
  /** Inputs the window needs before a tune (default 64). */
  readonly minTuneInputs?: number;
  /** Tune to `constraint + headroom` (capped at 1) while the guard keeps `constraint`; starting headroom (default: the whole `1 − constraint`). */
  readonly tuningHeadroom?: number;
  /** Per-tune change of the headroom per unit of served-agreement shortfall; 0 keeps it fixed (default 0.05). */
  readonly headroomGain?: number;
  /** Served inputs over which the served agreement is measured for the headroom (default 1024). */
  readonly servedHorizonInputs?: number;
  /** Served inputs summarised per utility-history entry (default 64). */
  readonly utilitySampleInputs?: number;
  /** Utility-history entries kept per ramp (default 16). */
  readonly utilityHistoryLength?: number;
  /** Deepest candidate id a ramp may use; default: the latest whose exit beats the plain model. */
  readonly latestUsefulCandidate?: string | null;
  readonly tuner?: Pick<TuneOptions, 'initialStep' | 'minStep' | 'maxRounds'>;
  readonly adjuster?: AdjusterOptions;
}

/** What one observed batch led to. */
export interface ObserveResult {
  /** Thresholds changed while the ramp set stayed the same. */
  readonly thresholdsChanged: boolean;
  /** The ramp set changed (its thresholds are then new as well). */
  readonly rampsChanged: boolean;
  readonly config: RampConfig;
  /** The guard lowered thresholds on this batch. */
  readonly guarded: boolean;
  /** A tune ran on this batch. */
  readonly tuned: boolean;
  /** The adjuster's decision, when it ran on this batch. */
  readonly adjustment?: AdjustDecision;
}

/** Running totals, for logs and for the simulator's report. */
export interface ControllerCounters {
  readonly batches: number;
  readonly inputs: number;
  readonly tunes: number;
  /** Batches after which thresholds changed with the same ramp set. */
  readonly thresholdUpdates: number;
  readonly rampChanges: number;
  readonly guardActivations: number;
  readonly adjustments: number;
}

/**
 * Starting headroom as a share of `1 − constraint`: the first tunes aim at full agreement on their
 * window, and the feedback releases headroom as served agreement proves higher than needed.
 * Replaying the fixture streams (Twitter-trace arrivals, two trace windows, with and without
 * drift, 99% constraint), half the slack served 98.99–99.06% on the image model and 0.8 of it
 * 98.88–99.11%, below the constraint in some runs; the full slack served 99.02–99.16% and lost no
 * median latency.
 */
const DEFAULT_HEADROOM_SHARE = 1;

function positiveInteger(value: number, what: string): number {
  if (!(Number.isInteger(value) && value > 0))
    throw new InputError(`${what} must be a positive integer, got ${value}`);
  return value;
}

/** The controller for one served model; see the file comment for what happens on each batch. */
export class ApparateController {
  private readonly profile: CostProfile;
  private readonly constraint: number;
  private headroom: number;
  /** The lanes' latest busy share, as the caller last reported it; unknown until then. */
  private lanesBusyShare: number | undefined;
  private readonly headroomGain: number;
  private readonly served: ServedTally;
  private readonly rampBudget: number;
  private readonly windowInputs: number;
  private readonly tunePeriodBatches: number;
  private readonly adjustPeriodBatches: number;
  private readonly minTuneInputs: number;
  private readonly utilitySampleInputs: number;
  private readonly utilityHistoryLength: number;
  private readonly latestUseful: number;
  private readonly tunerOptions: Pick<TuneOptions, 'initialStep' | 'minStep' | 'maxRounds'>;
  private readonly adjuster: RampAdjuster;

  private active: number[];
  private currentThresholds: number[];
  private version: number;
  private currentWindow: ExitWindow;
  private pendingRetune = true;
  private batchesSinceTune = 0;
  private batchesSinceAdjust = 0;
  private lastBatchSize: number;
  private utility: UtilityHistory;
  private totals = {
    batches: 0,
    inputs: 0,
    tunes: 0,
    thresholdUpdates: 0,
    rampChanges: 0,
    guardActivations: 0,
    adjustments: 0,
  };

  constructor(options: ControllerOptions) {
    validateProfile(options.profile);
    this.profile = options.profile;
    this.constraint = checkLimit(ACCURACY_CONSTRAINT, options.constraint ?? ACCURACY_CONSTRAINT.default);
    this.headroom = options.tuningHeadroom ?? DEFAULT_HEADROOM_SHARE * (1 - this.constraint);
    if (!(this.headroom >= 0))
      throw new InputError(`tuningHeadroom must be non-negative, got ${this.headroom}`);
    this.headroomGain = options.headroomGain ?? 0.05;
    if (!(this.headroomGain >= 0))
      throw new InputError(`headroomGain must be non-negative, got ${this.headroomGain}`);
    const servedHorizonInputs = positiveInteger(options.servedHorizonInputs ?? 1024, 'servedHorizonInputs');
    this.served = new ServedTally(servedHorizonInputs);
    this.rampBudget = checkLimit(RAMP_BUDGET, options.rampBudget ?? RAMP_BUDGET.default);
    this.windowInputs = positiveInteger(options.windowInputs ?? 512, 'windowInputs');
    this.tunePeriodBatches = positiveInteger(options.tunePeriodBatches ?? 8, 'tunePeriodBatches');
    this.adjustPeriodBatches = positiveInteger(options.adjustPeriodBatches ?? 32, 'adjustPeriodBatches');
    this.minTuneInputs = positiveInteger(options.minTuneInputs ?? 64, 'minTuneInputs');
    this.utilitySampleInputs = positiveInteger(options.utilitySampleInputs ?? 64, 'utilitySampleInputs');
    this.utilityHistoryLength = positiveInteger(options.utilityHistoryLength ?? 16, 'utilityHistoryLength');
    this.tunerOptions = options.tuner ?? {};
    this.adjuster = new RampAdjuster(options.adjuster);
    const ids = this.profile.candidates.map((c) => c.id);
    if (options.latestUsefulCandidate === undefined) {
      this.latestUseful = latestUsefulIndex(this.profile);
    } else if (options.latestUsefulCandidate === null) {
      this.latestUseful = -1;
    } else {
      this.latestUseful = ids.indexOf(options.latestUsefulCandidate);
      if (this.latestUseful < 0)
        throw new InputError(`latest useful candidate ${options.latestUsefulCandidate} is not a candidate`);
    }

    const initial = options.initialConfig.ramps.map((ramp) => {
      const index = ids.indexOf(ramp.id);
      if (index < 0)
        throw new InputError(`initial ramp ${ramp.id} is not a candidate; allowed: ${ids.join(', ')}`);
      if (!(ramp.threshold >= 0 && ramp.threshold <= 1))
        throw new InputError(`initial threshold of ${ramp.id} is not in [0, 1]`);
      return { index, threshold: ramp.threshold };
    });
    initial.sort((a, b) => a.index - b.index);
    initial.forEach((ramp, k) => {
      if (k > 0 && ramp.index === initial[k - 1]?.index)
        throw new InputError(`initial config names ${ids[ramp.index]} twice`);
    });
    this.active = initial.map((ramp) => ramp.index);
    this.currentThresholds = initial.map((ramp) => ramp.threshold);
    this.version = options.initialConfig.version ?? 0;
    this.lastBatchSize = this.profile.referenceBatchSize;
    this.currentWindow = emptyWindow(this.active.length);
    this.utility = emptyUtility(this.activeIds());
  }

  /**
   * Takes one served batch's observations of the active ramps (shallow to deep) and returns the
   * config to apply from now on. `batchSize` is the size the batch was run at (padding included);
   * `serving` says how busy the lanes were, where the caller measures it.
   */
  observeBatch(batch: ExitWindow, batchSize: number, serving: ServingLoad = {}): ObserveResult {
    if (batch.confidence.length !== this.active.length) {
      throw new InputError(
        `batch observes ${batch.confidence.length} ramps but ${this.active.length} are active`,
      );
    }
    positiveInteger(batchSize, 'batchSize');
    validateWindow(batch);
    checkBusyShare(serving.lanesBusyShare);
    if (batch.count === 0) {
      return {
        thresholdsChanged: false,
        rampsChanged: false,
        config: this.config,
        guarded: false,
        tuned: false,
      };
    }
    this.totals.batches++;
    this.totals.inputs += batch.count;
    this.lastBatchSize = batchSize;
    if (serving.lanesBusyShare !== undefined) this.lanesBusyShare = serving.lanesBusyShare;
    const costs = configCosts(costsAtBatch(this.profile, batchSize), this.active);
    const served = evaluateConfig(batch, this.currentThresholds, costs);
    this.served.add(batch.count, Math.round(served.agreement * batch.count));
    this.utility = foldUtility(
      this.utility,
      [{ inputs: batch.count, utilities: utilityFromExitRates(served.exitRates, costs) }],
      this.utilitySampleInputs,
      this.utilityHistoryLength,
    );
    this.currentWindow = appendToWindow(this.currentWindow, batch, this.windowInputs);
    const before = this.currentThresholds;

    const windowAgreement = evaluateConfig(this.currentWindow, this.currentThresholds, costs).agreement;
    const windowMissed = !meetsConstraint(windowAgreement, this.constraint);
    let guarded = false;
    if (windowMissed) {
      const guard = lowerThresholdsToMeetConstraint(
        this.currentWindow,
        this.currentThresholds,
        this.constraint,
      );
      this.currentThresholds = guard.thresholds;
      guarded = guard.lowered;
      if (guarded) this.totals.guardActivations++;
    }

    this.batchesSinceTune++;
    const wantTune =
      this.pendingRetune ||
      windowMissed ||
      !meetsConstraint(served.agreement, this.constraint) ||
      this.batchesSinceTune >= this.tunePeriodBatches;
    let tuned = false;
    if (wantTune && this.currentWindow.count >= this.minTuneInputs) {
      this.currentThresholds = [...this.tune().thresholds];
      tuned = true;
    }

    let adjustment: AdjustDecision | undefined;
    let rampsChanged = false;
    this.batchesSinceAdjust++;
    if (this.batchesSinceAdjust >= this.adjustPeriodBatches) {
      this.batchesSinceAdjust = 0;
      adjustment = this.adjust();
      rampsChanged = adjustment.rampsChanged;
    }

    const thresholdsChanged =
      !rampsChanged &&
      (before.length !== this.currentThresholds.length ||
        before.some((t, k) => t !== this.currentThresholds[k]));
    if (thresholdsChanged) this.totals.thresholdUpdates++;
    if (rampsChanged || thresholdsChanged) this.version++;
    return {
      thresholdsChanged,
      rampsChanged,
      config: this.config,
      guarded,
      tuned,
      ...(adjustment ? { adjustment } : {}),
    };
  }

  /** The config workers should apply now. */
  get config(): RampConfig {
    return {
      version: this.version,
      ramps: this.active.map((index, k) => ({
        id: this.profile.candidates[index]?.id ?? '',
        threshold: this.currentThresholds[k] as number,
      })),
    };
  }

  /** Candidate indices of the active ramps, shallow to deep. */
  get activeIndices(): readonly number[] {
    return this.active;
  }

  /** Current thresholds, one per active ramp. */
  get thresholds(): readonly number[] {
    return this.currentThresholds;
  }

  /** The sliding window of the current ramp set. */
  get window(): ExitWindow {
    return this.currentWindow;
  }

  /** Utility history per active ramp, oldest entry first. */
  get utilities(): readonly (readonly number[])[] {
    return this.utility.history;
  }

  /** The current tuning headroom: the tuner aims at `constraint + tuningHeadroom`. */
  get tuningHeadroom(): number {
    return this.headroom;
  }

  /** Running totals since construction. */
  get counters(): ControllerCounters {
    return { ...this.totals };
  }

  private tune(): RetuneOutcome {
    const costs = configCosts(costsAtBatch(this.profile, this.lastBatchSize), this.active);
    const served = this.served.agreement;
    if (served.inputs >= this.minTuneInputs) {
      this.headroom = nextHeadroom(this.headroom, this.constraint, served.agreement, this.headroomGain);
    }
    const constraint = tuningTarget(this.constraint, this.headroom);
    const result = tuneThresholds(this.currentWindow, costs, { ...this.tunerOptions, constraint });
    this.pendingRetune = false;
    this.batchesSinceTune = 0;
    this.totals.tunes++;
    return {
      thresholds: result.thresholds,
      utilities: utilityFromExitRates(result.evaluation.exitRates, costs),
    };
  }

  private adjust(): AdjustDecision {
    this.totals.adjustments++;
    const reference = costsAtBatch(this.profile, this.profile.referenceBatchSize);
    const observed = this.currentWindow.count >= this.minTuneInputs;
    const decision = this.adjuster.adjust({
      candidates: this.profile.candidates.map((c, index) => ({
        id: c.id,
        rampMs: reference.rampMs[index] as number,
        backboneMs: reference.backboneMs[index] as number,
      })),
      plainMs: reference.plainMs,
      rampBudget: this.rampBudget,
      latestUsefulIndex: this.latestUseful,
      active: this.active,
      thresholds: this.currentThresholds,
      utilityHistory: this.utility.history,
      ...(observed
        ? {
            exitRates: evaluateConfig(
              this.currentWindow,
              this.currentThresholds,
              configCosts(reference, this.active),
            ).exitRates,
            retune: () => this.tune(),
          }
        : {}),
      ...(this.lanesBusyShare === undefined ? {} : { lanesBusyShare: this.lanesBusyShare }),
    });
    if (decision.rampsChanged) {
      this.active = decision.active;
      this.currentThresholds = decision.thresholds;
      this.currentWindow = emptyWindow(this.active.length);
      this.utility = emptyUtility(this.activeIds());
      this.pendingRetune = true;
      this.batchesSinceTune = 0;
      this.totals.rampChanges++;
    } else {
      this.currentThresholds = decision.thresholds;
    }
    return decision;
  }

  private activeIds(): string[] {
    return this.active.map((index) => this.profile.candidates[index]?.id ?? '');
  }
}
