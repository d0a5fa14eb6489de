/**
 * The three policies the real worker serves, as configs and controllers built from the bundle:
 *
 * - plain: a config with no ramps, so every answer comes from the whole model;
 * - static early exit (BranchyNet / DeeBERT style, `staticEarlyExit` in `core/control/baselines`):
 *   a ramp at every useful candidate, thresholds tuned once on the bootstrap inputs' observations
 *   and never changed;
 * - Apparate: the bundle's initial config (or one placed for another ramp budget, for the
 *   ablation) and the core online controller, fed every batch report the worker produces.
 */
import type { LoadedBundle } from '../../core/bundle/bundle-io';
import { costProfileFromManifest } from '../../core/bundle/cost-profile';
import type { RampConfig } from '../../core/control/ramp-config';
import { staticEarlyExit } from '../../core/control/baselines';
import { ApparateController } from '../../core/control/controller';
import { LaneOccupancy } from '../../core/control/lane-occupancy';
import { configCostsAt, costsAtBatch, latestUsefulIndex } from '../../core/control/costs';
import { selectRamps, windowFromColumns, type ExitWindow } from '../../core/control/records';
import { chooseInitialRamps, heldOutOf } from '../../core/prepare/initial-config';
import { batchWindow } from '../../core/simulator/serving-policies';
import type { BatchReport } from '../../gpu-worker';

export const POLICY_NAMES = ['plain', 'apparate', 'static', 'optimal'] as const;
export type PolicyName = (typeof POLICY_NAMES)[number];

/** The plain model: no ramps. */
export const PLAIN_CONFIG: RampConfig = { version: 0, ramps: [] };

/**
 * Static early exit: every candidate up to the latest useful one, per-ramp thresholds from the
 * same greedy tuner the controller uses, tuned once on the bootstrap inputs (`all` holds every
 * candidate's observations over the serving stream, whose first `bootstrap.samples` are those).
 */
export function staticConfig(bundle: LoadedBundle, all: ExitWindow, constraint: number): RampConfig {
  const profile = costProfileFromManifest(bundle.manifest);
  const latest = latestUsefulIndex(profile);
  const active = Array.from({ length: Math.max(0, latest + 1) }, (_, i) => i);
  const bootstrap = Array.from({ length: bundle.manifest.bootstrap.samples }, (_, i) => i);
  const tuned = staticEarlyExit(
    selectRamps(batchWindow(all, bootstrap), active),
    configCostsAt(profile, active, profile.referenceBatchSize),
    { constraint },
  );
  return {
    version: 0,
    ramps: active.map((index, r) => ({
      id: bundle.manifest.candidates[index]?.id ?? '',
      threshold: tuned.perRamp.thresholds[r] ?? 0,
    })),
  };
}

/**
 * The initial Apparate config for a ramp budget: the bundle's own when the budget is the one it
 * was prepared with, otherwise the preparation's placement rule (`chooseInitialRamps`) re-run on
 * the bundle's profile with the other budget, all thresholds 0.
 */
export function initialConfigFor(bundle: LoadedBundle, rampBudget: number): RampConfig {
  const { manifest } = bundle;
  if (Math.abs(rampBudget - manifest.rampBudget) < 1e-12) return manifest.initialConfig;
  const profile = costProfileFromManifest(manifest);
  const reference = costsAtBatch(profile, profile.referenceBatchSize);
  const placement = chooseInitialRamps(
    manifest.candidates.map((c, i) => ({
      id: c.id,
      backboneMs: reference.plainMs * c.latencyFraction,
      rampMs: reference.rampMs[i] ?? 0,
      ...heldOutOf(c.ramp),
    })),
    reference.plainMs,
    rampBudget,
  );
  return {
    version: 0,
    ramps: placement.chosen.map((index) => ({ id: manifest.candidates[index]?.id ?? '', threshold: 0 })),
  };
}

/** A controller driven by the worker's batch reports; returns a config to publish, if any. */
export interface LiveController {
  observe(report: BatchReport): RampConfig | undefined;
}

/** What the live Apparate controller did over a run. */
export interface ControllerLog {
  readonly tunes: number;
  readonly thresholdUpdates: number;
  readonly rampChanges: number;
  /** Batch reports served under a ramp set the controller had already left (not observable by it). */
  readonly staleReports: number;
  readonly finalConfig: RampConfig;
}

/**
 * The core online controller wired to the worker's batch reports. A report served under the
 * controller's current ramp set is observed whatever its thresholds (confidences and agreement do
 * not depend on them); one served under an older ramp set, still in flight when the set changed,
 * cannot be and is counted. Every config change is returned for publishing. Every report also
 * tells the controller how busy the worker's `lanes` have been (lane-occupancy.ts), which the
 * adjuster weighs before adding a ramp.
 */
export function liveApparate(
  bundle: LoadedBundle,
  initial: RampConfig,
  options: { constraint: number; rampBudget: number; adjustPeriodBatches: number },
  lanes: number,
): LiveController & { log(): ControllerLog } {
  const occupancy = new LaneOccupancy(lanes);
  const controller = new ApparateController({
    profile: costProfileFromManifest(bundle.manifest),
    initialConfig: initial,
    constraint: options.constraint,
    rampBudget: options.rampBudget,
    adjustPeriodBatches: options.adjustPeriodBatches,
    latestUsefulCandidate: bundle.manifest.latestUsefulCandidate,
  });
  let staleReports = 0;
  const key = (config: { readonly ramps: readonly { readonly id: string }[] }): string =>
    config.ramps.map((r) => r.id).join(',');
  const published = (): RampConfig => ({
    version: controller.config.version,
    ramps: controller.config.ramps.map((r) => ({ id: r.id, threshold: r.threshold })),
  });
  return {
    observe(report: BatchReport) {
      occupancy.add(report.startedAtMs, report.wallMs);
      if (key(report.config) !== key(controller.config)) {
        staleReports += 1;
        return undefined;
      }
      // With no ramps active the batch still counts (the adjuster may add ramps back).
      const window =
        report.config.ramps.length === 0
          ? { count: report.requests.length, confidence: [], agrees: [] }
          : windowFromColumns(report.confidence, report.agrees);
      const result = controller.observeBatch(window, report.paddedSize, {
        lanesBusyShare: occupancy.busyShare,
      });
      return result.thresholdsChanged || result.rampsChanged ? published() : undefined;
    },
    log() {
      const counters = controller.counters;
      return {
        tunes: counters.tunes,
        thresholdUpdates: counters.thresholdUpdates,
        rampChanges: counters.rampChanges,
        staleReports,
        finalConfig: published(),
      };
    },
  };
}
