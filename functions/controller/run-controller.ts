/**
 * One run of the scheduled controller for one model: read the exit logs, retune the thresholds,
 * let the ramp adjuster move ramps, and publish a new config version when it differs enough from
 * the one serving. docs/controller.md explains the state kept between runs and why; in short:
 *
 * 1. Read the controller's state item (revision r) and the newest config (or the bundle's initial
 *    config, which workers serve while the table has none). A config this controller decided to
 *    publish in an earlier run but did not (the run stopped in between) is published first, and
 *    that is the whole run.
 * 2. Read the logs of batches started in the last `windowLookbackMs` up to `nowMs − logSettleMs`
 *    (the writers flush in the background; the lag lets late items land before their minute is
 *    judged). Those started at or after the state's watermark are new; none new means no new
 *    version, and nothing is written.
 * 3. Fold the new batches that ran with exactly the current ramp set into the served-agreement and
 *    utility histories; rebuild the tuning window from the newest `windowInputs` requests observed
 *    by every current ramp (see exit-log-evidence.ts for which logs count for what).
 * 4. With at least `minTuneInputs` in the window: update the headroom from served agreement, tune
 *    from zero on the window to `constraint + headroom`, and run the ramp adjuster on the utility
 *    histories. A changed ramp set keeps its surviving ramps retuned on their own columns of the
 *    window, and new ramps start at 0 (they have no observations yet).
 * 5. Claim the logs: write the state with watermark = end of the range, on condition that its
 *    revision is still r. A run that loses (another run claimed them) stops: `concurrent-run`.
 * 6. Publish version = current + 1 if the ramps changed, a threshold went down, or one went up by
 *    more than `minThresholdIncrease`; a `ConfigConflictError` means another publisher won.
 *
 * Every run is therefore a function of the logs and the stored state; two runs over the same logs
 * publish at most one version, and versions only increase.
 */
import {
  ConfigConflictError,
  type ConfigStore,
  type ExitLogItem,
  type ExitLogReader,
} from '../../adapters/dynamo';
import { costProfileFromManifest } from '../../core/bundle/cost-profile';
import type { BundleManifest, RampConfig } from '../../core/bundle/manifest';
import { configCosts, costsAtBatch, latestUsefulIndex, type CostProfile } from '../../core/control/costs';
import { planAdjustment, type AdjusterOptions, type AdjustReason } from '../../core/control/ramp-adjuster';
import { utilityFromExitRates } from '../../core/control/ramp-utility';
import { selectRamps } from '../../core/control/records';
import { DEFAULT_CONSTRAINT, tuneThresholds, type TuneOptions } from '../../core/control/threshold-tuner';
import { ArtifactError, InputError } from '../../core/errors';
import {
  controllerStateSchema,
  emptyUtility,
  foldServed,
  foldUtility,
  freshControllerState,
  servedAgreement,
  storableState,
  type ControllerState,
} from './controller-state';
import { servedBatches, tuningEvidence, typicalBatchSize } from './exit-log-evidence';
import { errorMessage, type ControllerLogger } from './logger';
import { checkRampConfig } from '../../core/bundle/config-check';

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

/** The headroom falls at a quarter of the rate it rises, as in the core controller. */
const HEADROOM_RELEASE_RATIO = 0.25;

/** What one run needs; the handler builds it from the environment, the local stack from its own parts. */
export interface ControllerDeps {
  readonly model: string;
  readonly manifest: BundleManifest;
  readonly exitLogs: Pick<ExitLogReader, 'since'>;
  readonly configs: Pick<ConfigStore, 'latest' | 'publish' | 'controllerState' | 'putControllerState'>;
  /** The run's clock, epoch ms. */
  readonly nowMs: number;
  /** Minimum agreement of released answers with the full model. @default 0.99 */
  readonly constraint?: number;
  /** Share of the plain model's latency all ramps together may add. @default the manifest's */
  readonly rampBudget?: number;
  readonly logger: ControllerLogger;
  readonly options?: ControllerTuning;
}

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
    /** Served agreement over the horizon, and how many inputs it covers. */
    readonly served: { readonly inputs: number; readonly agreement: number };
    readonly tune?: {
      readonly target: number;
      /** The tuned thresholds of the ramps serving before the run. */
      readonly thresholds: number[];
      /** Agreement and saved share of the plain model's latency on the window, as tuned. */
      readonly windowAgreement: number;
      readonly savingsFraction: number;
      readonly rounds: number;
      readonly moves: number;
    };
    readonly adjustment?: {
      readonly reason: AdjustReason;
      readonly detail: string;
      readonly added: string[];
      readonly removed: string[];
    };
  };
}

/**
 * Runs the controller once and writes exactly one log line about it (`controller run`, or
 * `controller run failed` before rethrowing), so every scheduled invocation leaves one record.
 */
export async function runController(deps: ControllerDeps): Promise<ControllerRunReport> {
  try {
    const report = await runOnce(deps);
    deps.logger.log('info', 'controller run', { ...report });
    return report;
  } catch (error) {
    deps.logger.log('error', 'controller run failed', { model: deps.model, error: errorMessage(error) });
    throw error;
  }
}

interface Settings extends Required<Omit<ControllerTuning, 'tuner' | 'adjuster'>> {
  readonly constraint: number;
  readonly rampBudget: number;
  readonly tuner: Pick<TuneOptions, 'initialStep' | 'minStep' | 'maxRounds'>;
  readonly adjuster: AdjusterOptions;
}

function settingsOf(deps: ControllerDeps): Settings {
  const tuning = { ...DEFAULT_CONTROLLER_TUNING, ...definedOnly(deps.options ?? {}) };
  if (!(Number.isFinite(deps.nowMs) && deps.nowMs >= 0)) {
    throw new InputError(`nowMs must be an epoch time in ms, got ${deps.nowMs}`);
  }
  const constraint = deps.constraint ?? DEFAULT_CONSTRAINT;
  if (!(constraint > 0 && constraint <= 1)) {
    throw new InputError(`accuracy constraint must lie in (0, 1], got ${constraint}`);
  }
  const rampBudget = deps.rampBudget ?? deps.manifest.rampBudget;
  if (!(rampBudget >= 0 && rampBudget <= 1)) {
    throw new InputError(`ramp budget must lie in [0, 1], got ${rampBudget}`);
  }
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

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The stored state, or a fresh one when there is none, it is unreadable, or it is another bundle's. */
function loadState(
  stored: { state: unknown } | undefined,
  manifest: BundleManifest,
  maxHeadroom: number,
  logger: ControllerLogger,
  model: string,
): ControllerState {
  const sha = manifest.model.sha256;
  if (stored === undefined) return freshControllerState(sha, maxHeadroom);
  const parsed = controllerStateSchema.safeParse(stored.state);
  if (!parsed.success) {
    logger.log('warn', 'controller state replaced', { model, why: 'it does not match the state schema' });
    return freshControllerState(sha, maxHeadroom);
  }
  const state = parsed.data;
  if (state.bundleSha256 !== sha) {
    // Candidate indices and utilities belong to the old bundle; the logs read stay read.
    return freshControllerState(sha, maxHeadroom, state.watermarkMs);
  }
  return { ...state, headroom: Math.min(state.headroom, maxHeadroom) };
}

function candidateIndices(profile: CostProfile, config: RampConfig, model: string): number[] {
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

function latestUsefulOf(manifest: BundleManifest, profile: CostProfile): number {
  if (manifest.latestUsefulCandidate === null) return -1;
  const index = profile.candidates.findIndex((candidate) => candidate.id === manifest.latestUsefulCandidate);
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

async function runOnce(deps: ControllerDeps): Promise<ControllerRunReport> {
  const { model, manifest, configs, logger } = deps;
  const settings = settingsOf(deps);
  const profile = costProfileFromManifest(manifest);
  const maxHeadroom = 1 - settings.constraint;

  const [stored, latest] = await Promise.all([configs.controllerState(model), configs.latest(model)]);
  const state = loadState(stored, manifest, maxHeadroom, logger, model);
  const current = latest?.config ?? manifest.initialConfig;
  const before = {
    ramps: current.ramps.map((ramp) => ramp.id),
    thresholds: current.ramps.map((ramp) => ramp.threshold),
  };

  const untilMs = Math.floor(deps.nowMs - settings.logSettleMs);
  const fromMs = Math.max(0, untilMs - settings.windowLookbackMs);
  const report = (
    fields: Pick<ControllerRunReport, 'newVersion' | 'reason' | 'detail'> &
      Partial<Omit<ControllerRunReport, 'model' | 'previousVersion'>>,
  ): ControllerRunReport => ({
    model,
    logs: {
      fromMs,
      untilMs,
      watermarkMs: state.watermarkMs,
      batches: 0,
      requests: 0,
      newBatches: 0,
      newRequests: 0,
    },
    inputs: {
      window: 0,
      minTuneInputs: settings.minTuneInputs,
      servedWithCurrentRamps: 0,
      otherRampSets: 0,
      batchSize: profile.referenceBatchSize,
    },
    previousVersion: current.version,
    ramps: { before: before.ramps, after: before.ramps },
    thresholds: { before: before.thresholds, after: before.thresholds },
    decisions: {
      constraint: settings.constraint,
      rampBudget: settings.rampBudget,
      headroom: state.headroom,
      served: servedAgreement(state.served),
    },
    ...fields,
  });

  // 1. A decision an earlier run claimed its logs for but did not publish comes first.
  const pending = state.pending;
  if (pending !== undefined && pending.version > current.version) {
    try {
      const checked = checkRampConfig(pending, manifest.candidates, current.version);
      await configs.publish(model, checked);
      return report({
        newVersion: checked.version,
        reason: 'completed-pending',
        detail: `published version ${checked.version}, decided by an earlier run that stopped before publishing it`,
        ramps: { before: before.ramps, after: checked.ramps.map((ramp) => ramp.id) },
        thresholds: { before: before.thresholds, after: checked.ramps.map((ramp) => ramp.threshold) },
      });
    } catch (error) {
      if (!(error instanceof ConfigConflictError || error instanceof InputError)) throw error;
      logger.log('warn', 'pending config dropped', {
        model,
        version: pending.version,
        why: errorMessage(error),
      });
    }
  }

  // 2. The logs.
  const logs = untilMs > fromMs ? await deps.exitLogs.since(model, fromMs, untilMs) : [];
  const fresh = logs.filter((batch) => batch.startedAtMs >= state.watermarkMs);
  const count = (batches: readonly ExitLogItem[]) => batches.reduce((sum, b) => sum + b.requests.length, 0);
  const logsRead = {
    fromMs,
    untilMs,
    watermarkMs: state.watermarkMs,
    batches: logs.length,
    requests: count(logs),
    newBatches: fresh.length,
    newRequests: count(fresh),
  };
  if (fresh.length === 0) {
    return report({
      logs: logsRead,
      newVersion: 'unchanged',
      reason: 'no-new-logs',
      detail: `no batch started in [${Math.max(fromMs, state.watermarkMs)}, ${untilMs})`,
    });
  }

  // 3. Evidence: served agreement and utility from the new logs, the window from all read.
  const active = candidateIndices(profile, current, model);
  const rampIds = before.ramps;
  const served = servedBatches(fresh, rampIds);
  const utilityBase =
    state.utility.rampIds.length === rampIds.length &&
    state.utility.rampIds.every((id, k) => id === rampIds[k])
      ? state.utility
      : emptyUtility(rampIds);
  const utility = foldUtility(
    utilityBase,
    served.map((batch) => {
      const costs = configCosts(costsAtBatch(profile, batch.paddedSize), active);
      const rates = batch.exitCounts.map((n) => n / batch.inputs);
      return { inputs: batch.inputs, utilities: utilityFromExitRates(rates, costs) };
    }),
    settings.utilitySampleInputs,
    settings.utilityHistoryLength,
  );
  const servedHistory = foldServed(state.served, served, settings.servedHorizonInputs);
  const evidence = tuningEvidence(logs, rampIds, settings.windowInputs);
  const batchSize = typicalBatchSize(evidence.paddedSizes, profile.referenceBatchSize);
  const inputs = {
    window: evidence.window.count,
    minTuneInputs: settings.minTuneInputs,
    servedWithCurrentRamps: served.reduce((sum, batch) => sum + batch.inputs, 0),
    otherRampSets: evidence.otherRampSetRequests,
    batchSize,
  };
  const watermarkMs = Math.max(state.watermarkMs, untilMs);
  let next: ControllerState = {
    ...state,
    watermarkMs,
    runs: state.runs + 1,
    served: servedHistory,
    utility,
  };
  const servedNow = servedAgreement(servedHistory);

  const claim = async (pendingConfig: RampConfig | undefined): Promise<boolean> =>
    configs.putControllerState(model, storableState(next, pendingConfig), stored?.revision);

  if (evidence.window.count < settings.minTuneInputs) {
    const claimed = await claim(undefined);
    return report({
      logs: logsRead,
      inputs,
      newVersion: 'unchanged',
      reason: claimed ? 'too-few-inputs' : 'concurrent-run',
      detail: claimed
        ? `the window holds ${evidence.window.count} inputs observed by every current ramp; a tune needs ${settings.minTuneInputs}`
        : 'another run claimed these logs first',
      decisions: {
        constraint: settings.constraint,
        rampBudget: settings.rampBudget,
        headroom: next.headroom,
        served: servedNow,
      },
    });
  }

  // 4. Headroom, tune, adjust.
  let headroom = next.headroom;
  if (servedNow.inputs >= settings.minTuneInputs) {
    const shortfall = settings.constraint - servedNow.agreement;
    const gain = shortfall > 0 ? settings.headroomGain : settings.headroomGain * HEADROOM_RELEASE_RATIO;
    headroom = Math.min(maxHeadroom, Math.max(0, headroom + gain * shortfall));
  }
  const target = Math.min(1, settings.constraint + headroom);
  const atBatch = costsAtBatch(profile, batchSize);
  const costs = configCosts(atBatch, active);
  const tuneOptions = { ...settings.tuner, constraint: target };
  const tuned = tuneThresholds(evidence.window, costs, tuneOptions);
  const reference = costsAtBatch(profile, profile.referenceBatchSize);
  const { decision, memory } = planAdjustment(
    {
      candidates: profile.candidates.map((candidate, index) => ({
        id: candidate.id,
        rampMs: reference.rampMs[index] as number,
      })),
      vanillaMs: reference.vanillaMs,
      rampBudget: settings.rampBudget,
      latestUsefulIndex: latestUsefulOf(manifest, profile),
      active,
      thresholds: tuned.thresholds,
      utilityHistory: utility.history,
      retune: () => ({
        thresholds: tuned.thresholds,
        utilities: utilityFromExitRates(tuned.evaluation.exitRates, costs),
      }),
    },
    next.adjuster,
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
  const afterIds = decision.active.map((index) => profile.candidates[index]?.id as string);
  next = {
    ...next,
    headroom,
    adjuster: { run: memory.run, leftSets: [...memory.leftSets], removedUseless: [...memory.removedUseless] },
    ...(decision.rampsChanged ? { utility: emptyUtility(afterIds) } : {}),
  };
  const decisions: ControllerRunReport['decisions'] = {
    constraint: settings.constraint,
    rampBudget: settings.rampBudget,
    headroom,
    served: servedNow,
    tune: {
      target,
      thresholds: tuned.thresholds,
      windowAgreement: tuned.evaluation.accuracy,
      savingsFraction: tuned.evaluation.savingsFraction,
      rounds: tuned.rounds,
      moves: tuned.moves,
    },
    adjustment: {
      reason: decision.reason,
      detail: decision.detail,
      added: decision.added.map((index) => profile.candidates[index]?.id as string),
      removed: decision.removed.map((index) => profile.candidates[index]?.id as string),
    },
  };
  const proposed = {
    ramps: { before: before.ramps, after: afterIds },
    thresholds: { before: before.thresholds, after: thresholds },
  };

  // 5. Claim the logs (and record the decision), 6. publish it.
  const publish = worthPublishing(current, afterIds, thresholds, settings.minThresholdIncrease);
  const candidateConfig = publish
    ? checkRampConfig(
        {
          version: current.version + 1,
          ramps: afterIds.map((id, k) => ({ id, threshold: thresholds[k] as number })),
        },
        manifest.candidates,
        current.version,
      )
    : undefined;
  if (!(await claim(candidateConfig))) {
    return report({
      logs: logsRead,
      inputs,
      decisions,
      newVersion: 'unchanged',
      reason: 'concurrent-run',
      detail: 'another run claimed these logs first',
    });
  }
  if (candidateConfig === undefined) {
    return report({
      logs: logsRead,
      inputs,
      decisions,
      ...proposed,
      thresholds: { before: before.thresholds, after: before.thresholds },
      newVersion: 'unchanged',
      reason: 'same-config',
      detail: `retuned thresholds differ from version ${current.version}'s by at most ${settings.minThresholdIncrease} upwards`,
    });
  }
  let published: RampConfig;
  try {
    published = await publishOrSkipGap(configs, model, candidateConfig);
  } catch (error) {
    if (!(error instanceof ConfigConflictError)) throw error;
    return report({
      logs: logsRead,
      inputs,
      decisions,
      ...proposed,
      newVersion: 'unchanged',
      reason: 'version-conflict',
      detail: error.message,
    });
  }
  return report({
    logs: logsRead,
    inputs,
    decisions,
    ...proposed,
    newVersion: published.version,
    reason: decision.rampsChanged ? 'ramps-changed' : 'thresholds-tuned',
    detail: decision.rampsChanged
      ? decision.detail
      : `thresholds tuned on ${evidence.window.count} inputs to ${formatShare(target)} agreement`,
  });
}

/**
 * Publishes `config`; if the head has admitted a version above every published one (a publisher
 * stopped between its two writes and never came back), publishes once more just above it, since
 * otherwise every later run would collide with the same gap. A version someone actually published
 * is left alone: that conflict is returned to the caller.
 */
async function publishOrSkipGap(
  configs: Pick<ConfigStore, 'latest' | 'publish'>,
  model: string,
  config: RampConfig,
): Promise<RampConfig> {
  try {
    return (await configs.publish(model, config)).config;
  } catch (error) {
    if (!(error instanceof ConfigConflictError) || error.latestVersion === undefined) throw error;
    const admitted = error.latestVersion;
    const newest = (await configs.latest(model))?.config.version ?? -1;
    if (admitted < config.version || newest >= admitted) throw error;
    return (await configs.publish(model, { ...config, version: admitted + 1 })).config;
  }
}

function formatShare(value: number): string {
  return `${(value * 100).toFixed(2)}%`;
}
