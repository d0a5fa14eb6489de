/**
 * The scheduled controller's decision, as a pure function: given what the stored state remembers
 * (headroom, served agreement, utility history, the adjuster's damping memory), the evidence of
 * the new logs and the config serving, it folds the evidence into the histories, moves the
 * headroom, tunes from zero to `constraint + headroom`, lets the ramp adjuster move ramps, and
 * says whether the result is worth a new version. The deployed run (functions/controller) only
 * loads, calls this, claims the logs and publishes; the online controller (controller.ts) applies
 * the same histories, headroom rule, tuner and adjuster batch by batch.
 */
import type { RampConfig } from './ramp-config';
import { configCosts, costsAtBatch, latestUsefulIndex, type CostProfile } from './costs';
import {
  planAdjustment,
  type AdjustDecision,
  type AdjusterMemory,
  type AdjusterOptions,
} from './ramp-adjuster';
import { utilityFromExitRates } from './ramp-utility';
import { selectRamps, type ExitWindow } from './records';
import { nextHeadroom, tuningTarget } from './headroom';
import { foldServed, servedAgreement, type ServedHistory } from './served-history';
import { tuneThresholds, type TuneOptions } from './threshold-tuner';
import { emptyUtility, foldUtility, type UtilityHistory } from './utility-history';
import { ArtifactError } from '../errors';

/** What the scheduled controller carries from one run to the next. */
export interface ScheduledMemory {
  /** The tuner aims at `constraint + headroom`. */
  readonly headroom: number;
  readonly served: ServedHistory;
  readonly utility: UtilityHistory;
  readonly adjuster: AdjusterMemory;
}

/** One logged batch as served with exactly the current ramp set. */
export interface ServedBatch {
  readonly inputs: number;
  /** Released answers equal to the full model's (a request that did not exit counts as equal). */
  readonly correct: number;
  readonly paddedSize: number;
  /** Requests released at each current ramp, shallow to deep, then at the end. */
  readonly exitCounts: readonly number[];
}

/** What the new logs say about the config serving. */
export interface ScheduledEvidence {
  /** New batches served with exactly the current ramp set, oldest first. */
  readonly served: readonly ServedBatch[];
  /** The newest inputs observed by every current ramp, for the tuner. */
  readonly window: ExitWindow;
  /** The padded batch size the latency model is taken at. */
  readonly batchSize: number;
}

export interface ScheduledSettings {
  /** Minimum agreement of released answers with the full model. */
  readonly constraint: number;
  /** Share of the plain model's latency all ramps together may add. */
  readonly rampBudget: number;
  readonly minTuneInputs: number;
  readonly headroomGain: number;
  readonly servedHorizonInputs: number;
  readonly utilitySampleInputs: number;
  readonly utilityHistoryLength: number;
  /** With the same ramps and no threshold lowered, a rise smaller than this publishes nothing. */
  readonly minThresholdIncrease: number;
  readonly tuner: Pick<TuneOptions, 'initialStep' | 'minStep' | 'maxRounds'>;
  readonly adjuster: AdjusterOptions;
}

export interface ScheduledInput {
  /** For error messages. */
  readonly model: string;
  readonly profile: CostProfile;
  /** The bundle's deepest useful candidate id (null: none); an unknown id falls back to the profile's. */
  readonly latestUsefulCandidate: string | null;
  readonly current: RampConfig;
  readonly memory: ScheduledMemory;
  readonly evidence: ScheduledEvidence;
  readonly settings: ScheduledSettings;
}

/** Served agreement over the horizon, and how many inputs it covers. */
export interface ServedSummary {
  readonly inputs: number;
  readonly agreement: number;
}

/** What the tune of a run did. */
export interface TuneSummary {
  /** The agreement aimed at: min(1, constraint + headroom). */
  readonly target: number;
  /** The tuned thresholds of the ramps serving before the run. */
  readonly thresholds: number[];
  /** Agreement and saved share of the plain model's latency on the window, as tuned. */
  readonly windowAgreement: number;
  readonly savingsFraction: number;
  readonly rounds: number;
  readonly moves: number;
}

export type ScheduledDecision =
  | {
      /** The window holds too few inputs for a tune: only the histories moved. */
      readonly kind: 'too-few-inputs';
      readonly memory: ScheduledMemory;
      readonly served: ServedSummary;
    }
  | {
      readonly kind: 'decided';
      readonly memory: ScheduledMemory;
      readonly served: ServedSummary;
      readonly tune: TuneSummary;
      readonly adjustment: AdjustDecision;
      /** The proposed ramps (ids, shallow to deep) and their thresholds. */
      readonly ramps: string[];
      readonly thresholds: number[];
      /** Whether the proposal differs enough from the serving config to be worth a version. */
      readonly publish: boolean;
    };

/** Candidate indices of a config's ramps; a ramp the bundle does not have is an artifact error. */
export function activeCandidates(profile: CostProfile, config: RampConfig, model: string): number[] {
  const ids = profile.candidates.map((candidate) => candidate.id);
  return config.ramps.map((ramp) => {
    const index = ids.indexOf(ramp.id);
    if (index < 0) {
      throw new ArtifactError(
        `config version ${config.version} of model ${model} names ramp ${ramp.id}, which the bundle does not have (candidates: ${ids.join(', ')})`,
      );
    }
    return index;
  });
}

/** Decides one scheduled run; see the file comment. Pure: the same input gives the same decision. */
export function decideScheduled(input: ScheduledInput): ScheduledDecision {
  const { profile, current, memory, evidence, settings } = input;
  const active = activeCandidates(profile, current, input.model);
  const rampIds = current.ramps.map((ramp) => ramp.id);

  // The histories: served agreement and utility of the current ramp set.
  const utilityBase =
    memory.utility.rampIds.length === rampIds.length &&
    memory.utility.rampIds.every((id, k) => id === rampIds[k])
      ? memory.utility
      : emptyUtility(rampIds);
  const utility = foldUtility(
    utilityBase,
    evidence.served.map((batch) => {
      const costs = configCosts(costsAtBatch(profile, batch.paddedSize), active);
      const rates = batch.exitCounts.map((n) => n / batch.inputs);
      return { inputs: batch.inputs, utilities: utilityFromExitRates(rates, costs) };
    }),
    settings.utilitySampleInputs,
    settings.utilityHistoryLength,
  );
  const servedHistory = foldServed(memory.served, evidence.served, settings.servedHorizonInputs);
  const served = servedAgreement(servedHistory);
  const folded: ScheduledMemory = { ...memory, served: servedHistory, utility };
  if (evidence.window.count < settings.minTuneInputs) {
    return { kind: 'too-few-inputs', memory: folded, served };
  }

  // Headroom, tune, adjust.
  const headroom =
    served.inputs >= settings.minTuneInputs
      ? nextHeadroom(memory.headroom, settings.constraint, served.agreement, settings.headroomGain)
      : memory.headroom;
  const target = tuningTarget(settings.constraint, headroom);
  const atBatch = costsAtBatch(profile, evidence.batchSize);
  const costs = configCosts(atBatch, active);
  const tuneOptions = { ...settings.tuner, constraint: target };
  const tuned = tuneThresholds(evidence.window, costs, tuneOptions);
  const reference = costsAtBatch(profile, profile.referenceBatchSize);
  const { decision, memory: adjusterMemory } = planAdjustment(
    {
      candidates: profile.candidates.map((candidate, index) => ({
        id: candidate.id,
        rampMs: reference.rampMs[index] as number,
        backboneMs: reference.backboneMs[index] as number,
      })),
      plainMs: reference.plainMs,
      rampBudget: settings.rampBudget,
      latestUsefulIndex: latestUsefulOf(input.latestUsefulCandidate, profile),
      active,
      thresholds: tuned.thresholds,
      utilityHistory: utility.history,
      exitRates: tuned.evaluation.exitRates,
      retune: () => ({
        thresholds: tuned.thresholds,
        utilities: utilityFromExitRates(tuned.evaluation.exitRates, costs),
      }),
    },
    memory.adjuster,
    settings.adjuster,
  );

  let thresholds = decision.thresholds;
  if (decision.rampsChanged) {
    // Surviving ramps are retuned on their own columns; new ramps observe at 0 until the next run.
    const columnOf = new Map(active.map((candidate, k) => [candidate, k]));
    const kept = decision.active.filter((candidate) => columnOf.has(candidate));
    const keptTuned =
      kept.length === 0
        ? []
        : tuneThresholds(
            selectRamps(
              evidence.window,
              kept.map((candidate) => columnOf.get(candidate) as number),
            ),
            configCosts(atBatch, kept),
            tuneOptions,
          ).thresholds;
    thresholds = decision.active.map((candidate) =>
      columnOf.has(candidate) ? (keptTuned[kept.indexOf(candidate)] as number) : 0,
    );
  }
  const ramps = decision.active.map((index) => profile.candidates[index]?.id as string);
  return {
    kind: 'decided',
    memory: {
      ...folded,
      headroom,
      adjuster: {
        run: adjusterMemory.run,
        leftSets: [...adjusterMemory.leftSets],
        removedUseless: [...adjusterMemory.removedUseless],
      },
      ...(decision.rampsChanged ? { utility: emptyUtility(ramps) } : {}),
    },
    served,
    tune: {
      target,
      thresholds: tuned.thresholds,
      windowAgreement: tuned.evaluation.agreement,
      savingsFraction: tuned.evaluation.savingsFraction,
      rounds: tuned.rounds,
      moves: tuned.moves,
    },
    adjustment: decision,
    ramps,
    thresholds,
    publish: worthPublishing(current, ramps, thresholds, settings.minThresholdIncrease),
  };
}

function latestUsefulOf(latestUsefulCandidate: string | null, profile: CostProfile): number {
  if (latestUsefulCandidate === null) return -1;
  const index = profile.candidates.findIndex((candidate) => candidate.id === latestUsefulCandidate);
  return index >= 0 ? index : latestUsefulIndex(profile);
}

/** Whether a proposed config differs enough from the serving one to be worth a version. */
function worthPublishing(
  before: RampConfig,
  afterIds: readonly string[],
  afterThresholds: readonly number[],
  minIncrease: number,
): boolean {
  if (afterIds.length !== before.ramps.length || afterIds.some((id, k) => id !== before.ramps[k]?.id)) {
    return true;
  }
  return afterThresholds.some((threshold, k) => {
    const old = before.ramps[k]?.threshold ?? 0;
    return threshold < old || threshold - old > minIncrease;
  });
}
