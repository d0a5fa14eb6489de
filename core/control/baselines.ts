/**
 * Baselines the controller is measured against, computed from observations of every candidate
 * ramp (the simulator's recording): the offline optimal (an oracle that knows which ramp will
 * agree), static early exit (every candidate on, thresholds tuned once), and the online optimal
 * (the best config for the last few batches, chosen afresh for each batch). They share the exit
 * rule and the tuner with the controller, so differences come from the policy alone.
 */
import { InputError } from '../errors';
import {
  configCosts,
  configCostsAt,
  costsAtBatch,
  latestUsefulIndex,
  rampBudgetMs,
  type CostProfile,
  type CostsAtBatch,
} from './costs';
import { evaluateConfig, meetsConstraint, serveWindow, type ConfigEvaluation } from './exit-rule';
import { concatWindows, selectRamps, type ConfigCosts, type ExitWindow } from './records';
import { RAMP_BUDGET } from './limits';
import { DEFAULT_CONSTRAINT, tuneThresholds, type TuneOptions, type TuneResult } from './threshold-tuner';

/** Per-input outcome of a baseline. */
export interface ServedInputs {
  /** Candidate (or active-ramp) index where each input left; -1 = the end of the model. */
  readonly exitIndex: Int16Array;
  readonly latencyMs: Float64Array;
}

/**
 * Offline optimal: each input leaves at the first candidate whose prediction agrees with the
 * final model's, at that candidate's backbone time, with no ramp costs at all; an input no
 * candidate gets right, or whose first agreeing candidate is not faster than the plain model,
 * takes the plain model's time (exit -1). No deployable policy can beat it at 100% agreement,
 * which makes it the yardstick for the controller's savings.
 */
export function offlineOptimal(
  observations: ExitWindow,
  costs: Pick<CostsAtBatch, 'backboneMs' | 'plainMs'>,
): ServedInputs {
  const candidates = observations.agrees.length;
  if (costs.backboneMs.length !== candidates) {
    throw new InputError(`${costs.backboneMs.length} backbone times given for ${candidates} candidates`);
  }
  const exitIndex = new Int16Array(observations.count).fill(-1);
  const latencyMs = new Float64Array(observations.count).fill(costs.plainMs);
  for (let i = 0; i < observations.count; i++) {
    for (let c = 0; c < candidates; c++) {
      if ((observations.agrees[c] as Uint8Array)[i] !== 1) continue;
      const backbone = costs.backboneMs[c] as number;
      if (backbone < costs.plainMs) {
        exitIndex[i] = c;
        latencyMs[i] = backbone;
      }
      break;
    }
  }
  return { exitIndex, latencyMs };
}

/** Options of the static early-exit baseline. */
export interface StaticOptions extends Pick<TuneOptions, 'initialStep' | 'minStep' | 'maxRounds'> {
  readonly constraint?: number;
  /** Grid step of the shared-threshold scan (default 0.001). */
  readonly sharedStep?: number;
}

/** The two static configurations, both tuned once on the bootstrap window. */
export interface StaticEarlyExit {
  /** Per-ramp thresholds from the same greedy tuner the controller uses. */
  readonly perRamp: TuneResult;
  /** One threshold for every ramp, the lowest-latency one on the grid that meets the constraint. */
  readonly shared: {
    readonly threshold: number;
    readonly thresholds: number[];
    readonly evaluation: ConfigEvaluation;
  };
}

/**
 * Static early exit: the ramps in `bootstrap` (normally every candidate) stay on with thresholds
 * tuned once and never changed, the way fixed-ramp early-exit models are deployed. The shared
 * variant scans one threshold for all ramps on a grid; ties keep the smaller threshold, the more
 * conservative choice. Serve them with `serveWindow` or `evaluateConfig`.
 */
export function staticEarlyExit(
  bootstrap: ExitWindow,
  costs: ConfigCosts,
  options: StaticOptions = {},
): StaticEarlyExit {
  const constraint = options.constraint ?? DEFAULT_CONSTRAINT;
  const step = options.sharedStep ?? 0.001;
  if (!(step > 0 && step <= 1)) throw new InputError(`sharedStep must lie in (0, 1], got ${step}`);
  const perRamp = tuneThresholds(bootstrap, costs, {
    initialStep: options.initialStep,
    minStep: options.minStep,
    maxRounds: options.maxRounds,
    constraint,
  });
  const ramps = bootstrap.confidence.length;
  let best = {
    threshold: 0,
    thresholds: new Array<number>(ramps).fill(0),
    evaluation: evaluateConfig(bootstrap, new Array<number>(ramps).fill(0), costs),
  };
  const steps = Math.round(1 / step);
  for (let k = 1; k <= steps; k++) {
    const threshold = Math.min(1, k * step);
    const thresholds = new Array<number>(ramps).fill(threshold);
    const evaluation = evaluateConfig(bootstrap, thresholds, costs);
    if (
      meetsConstraint(evaluation.agreement, constraint) &&
      evaluation.meanLatencyMs < best.evaluation.meanLatencyMs
    ) {
      best = { threshold, thresholds, evaluation };
    }
  }
  return { perRamp, shared: best };
}

/** Options of the config search and the online optimal. */
export interface OnlineOptimalOptions extends Pick<TuneOptions, 'initialStep' | 'minStep' | 'maxRounds'> {
  readonly constraint?: number;
  readonly rampBudget?: number;
  /** Past batches the config is chosen on (default 16). */
  readonly pastBatches?: number;
  /** Deepest candidate index allowed (default: the profile's latest useful candidate). */
  readonly latestUsefulIndex?: number;
}

/** A config found by the search, with what it achieves on the window it was chosen on. */
export interface ChosenConfig {
  readonly active: number[];
  readonly thresholds: number[];
  readonly evaluation: ConfigEvaluation;
}

/**
 * The best config for a window of all-candidate observations, searched greedily: starting from
 * no ramps, repeatedly add the candidate (within budget, no deeper than the latest useful one)
 * whose addition, with thresholds retuned for the whole set, lowers the mean latency most; stop
 * when no addition helps. This is a deliberate restriction: exhaustive search over subsets is
 * exponential in the candidates, while greedy addition costs at most candidates × ramps tunes
 * per batch. It can miss a pair of ramps that only pays together, so the "optimal" is an
 * approximation from below of what the best config on the window would save.
 */
export function chooseConfig(
  window: ExitWindow,
  profile: CostProfile,
  batchSize: number,
  options: OnlineOptimalOptions = {},
): ChosenConfig {
  const constraint = options.constraint ?? DEFAULT_CONSTRAINT;
  const budgetMs = rampBudgetMs(profile, options.rampBudget ?? RAMP_BUDGET.default);
  const latest = options.latestUsefulIndex ?? latestUsefulIndex(profile);
  const atBatch = costsAtBatch(profile, batchSize);
  const reference = costsAtBatch(profile, profile.referenceBatchSize);
  const tunerOptions = {
    initialStep: options.initialStep,
    minStep: options.minStep,
    maxRounds: options.maxRounds,
    constraint,
  };
  let chosen: ChosenConfig = {
    active: [],
    thresholds: [],
    evaluation: evaluateConfig(selectRamps(window, []), [], configCosts(atBatch, [])),
  };
  if (window.count === 0) return chosen;
  for (;;) {
    let improved: ChosenConfig | null = null;
    const spent = chosen.active.reduce((sum, c) => sum + (reference.rampMs[c] as number), 0);
    for (let c = 0; c <= latest; c++) {
      if (chosen.active.includes(c)) continue;
      if (spent + (reference.rampMs[c] as number) > budgetMs * (1 + 1e-9)) continue;
      const active = [...chosen.active, c].sort((a, b) => a - b);
      const result = tuneThresholds(selectRamps(window, active), configCosts(atBatch, active), tunerOptions);
      const bar = improved ?? chosen;
      if (result.evaluation.meanLatencyMs < bar.evaluation.meanLatencyMs) {
        improved = { active, thresholds: result.thresholds, evaluation: result.evaluation };
      }
    }
    if (improved === null) return chosen;
    chosen = improved;
  }
}

/** One batch served by the online optimal. */
export interface OnlineBatchResult extends ServedInputs {
  readonly active: number[];
  readonly thresholds: number[];
  /** 1 where the released answer equals the final model's. */
  readonly agrees: Uint8Array;
}

/**
 * Online optimal: before each batch, the config `chooseConfig` finds on the previous
 * `pastBatches` batches, applied to the batch. It sees the recent past perfectly and reconfigures
 * for free on every batch, which no real controller can, so it bounds what adaptation can buy.
 * The first batch has no past and runs the plain model. Exit indices are candidate indices.
 */
export function onlineOptimal(
  batches: readonly { readonly observations: ExitWindow; readonly batchSize: number }[],
  profile: CostProfile,
  options: OnlineOptimalOptions = {},
): OnlineBatchResult[] {
  const past = options.pastBatches ?? 16;
  if (!(Number.isInteger(past) && past > 0))
    throw new InputError(`pastBatches must be a positive integer, got ${past}`);
  const candidates = profile.candidates.length;
  return batches.map((batch, b) => {
    const history = concatWindows(
      batches.slice(Math.max(0, b - past), b).map((earlier) => earlier.observations),
      candidates,
    );
    const chosen = chooseConfig(history, profile, batch.batchSize, options);
    const served = serveWindow(
      selectRamps(batch.observations, chosen.active),
      chosen.thresholds,
      configCostsAt(profile, chosen.active, batch.batchSize),
    );
    const exitIndex = served.exitIndex.map((r) => (r < 0 ? -1 : (chosen.active[r] as number)));
    return {
      active: chosen.active,
      thresholds: chosen.thresholds,
      exitIndex,
      latencyMs: served.latencyMs,
      agrees: served.agrees,
    };
  });
}
