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
 * 3. Decide (`decideScheduled` in core/control/scheduled-decision.ts, a pure function): fold the
 *    new batches that ran with exactly the current ramp set into the served-agreement and utility
 *    histories; on the tuning window, rebuilt from the newest `windowInputs` requests observed by
 *    every current ramp (see exit-log-evidence.ts for which logs count for what), and with at
 *    least `minTuneInputs` in it: update the headroom, tune from zero to `constraint + headroom`,
 *    and run the ramp adjuster on the utility histories.
 * 4. Claim the logs: write the state with watermark = end of the range, on condition that its
 *    revision is still r. A run that loses (another run claimed them) stops: `concurrent-run`.
 * 5. Publish version = current + 1 if the ramps changed, a threshold went down, or one went up by
 *    more than `minThresholdIncrease`; a `ConfigConflictError` means another publisher won.
 *
 * Every run is therefore a function of the logs and the stored state; two runs over the same logs
 * publish at most one version, and versions only increase.
 */
import { ConfigConflictError, type ConfigStore, type ExitLogReader } from '../../adapters/dynamo';
import { costProfileFromManifest } from '../../core/bundle/cost-profile';
import { checkRampConfig } from '../../core/bundle/config-check';
import type { BundleManifest } from '../../core/bundle/manifest';
import type { RampConfig } from '../../core/control/ramp-config';
import { decideScheduled } from '../../core/control/scheduled-decision';
import { servedAgreement } from '../../core/control/served-history';
import { InputError } from '../../core/errors';
import type { ExitLogItem } from '../../core/serving/exit-log-item';
import type { ControllerRunReport } from './controller-report';
import {
  controllerStateSchema,
  freshControllerState,
  storableState,
  type ControllerState,
} from './controller-state';
import { settingsOf, type ControllerTuning } from './controller-tuning';
import { servedBatches, tuningEvidence, typicalBatchSize } from './exit-log-evidence';
import { messageOf } from '../../core/errors';
import type { Logger } from '../../core/util/json-lines-logger';

export type { ControllerRunReport, PublishedReason, UnchangedReason } from './controller-report';
export { DEFAULT_CONTROLLER_TUNING, type ControllerTuning } from './controller-tuning';

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
  readonly logger: Logger;
  readonly options?: ControllerTuning;
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
    deps.logger.log('error', 'controller run failed', { model: deps.model, error: messageOf(error) });
    throw error;
  }
}

/** The stored state, or a fresh one when there is none, it is unreadable, or it is another bundle's. */
function loadState(
  stored: { state: unknown } | undefined,
  manifest: BundleManifest,
  maxHeadroom: number,
  logger: Logger,
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

async function runOnce(deps: ControllerDeps): Promise<ControllerRunReport> {
  const { model, manifest, configs, logger } = deps;
  const settings = settingsOf(deps);
  const profile = costProfileFromManifest(manifest);
  const maxHeadroom = 1 - settings.constraint;

  // 1. Load: the state, the serving config, and a decision an earlier run did not publish.
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
        why: messageOf(error),
      });
    }
  }

  // 2. Load the logs.
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

  // 3. Decide.
  const served = servedBatches(fresh, before.ramps);
  const evidence = tuningEvidence(logs, before.ramps, settings.windowInputs);
  const batchSize = typicalBatchSize(evidence.paddedSizes, profile.referenceBatchSize);
  const inputs = {
    window: evidence.window.count,
    minTuneInputs: settings.minTuneInputs,
    servedWithCurrentRamps: served.reduce((sum, batch) => sum + batch.inputs, 0),
    otherRampSets: evidence.otherRampSetRequests,
    batchSize,
  };
  const decided = decideScheduled({
    model,
    profile,
    latestUsefulCandidate: manifest.latestUsefulCandidate,
    current,
    memory: state,
    evidence: { served, window: evidence.window, batchSize },
    settings,
  });
  const { adjuster } = decided.memory;
  const next: ControllerState = {
    ...state,
    ...decided.memory,
    adjuster: {
      run: adjuster.run,
      leftSets: [...adjuster.leftSets],
      removedUseless: [...adjuster.removedUseless],
    },
    watermarkMs: Math.max(state.watermarkMs, untilMs),
    runs: state.runs + 1,
  };
  const claim = async (pendingConfig: RampConfig | undefined): Promise<boolean> =>
    configs.putControllerState(model, storableState(next, pendingConfig), stored?.revision);

  if (decided.kind === 'too-few-inputs') {
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
        served: decided.served,
      },
    });
  }
  const { adjustment } = decided;
  const decisions: ControllerRunReport['decisions'] = {
    constraint: settings.constraint,
    rampBudget: settings.rampBudget,
    headroom: next.headroom,
    served: decided.served,
    tune: decided.tune,
    adjustment: {
      reason: adjustment.reason,
      detail: adjustment.detail,
      added: adjustment.added.map((index) => profile.candidates[index]?.id as string),
      removed: adjustment.removed.map((index) => profile.candidates[index]?.id as string),
    },
  };
  const proposed = {
    ramps: { before: before.ramps, after: decided.ramps },
    thresholds: { before: before.thresholds, after: decided.thresholds },
  };

  // 4. Claim the logs (and record the decision), 5. publish it.
  const candidateConfig = decided.publish
    ? checkRampConfig(
        {
          version: current.version + 1,
          ramps: decided.ramps.map((id, k) => ({ id, threshold: decided.thresholds[k] as number })),
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
    reason: adjustment.rampsChanged ? 'ramps-changed' : 'thresholds-tuned',
    detail: adjustment.rampsChanged
      ? adjustment.detail
      : `thresholds tuned on ${evidence.window.count} inputs to ${formatShare(decided.tune.target)} agreement`,
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
