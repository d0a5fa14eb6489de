/**
 * The serving policies the simulator compares, all driven by the same observations and the same
 * latency model: the plain model, Apparate with its control loops running online, and the
 * baselines (offline optimal, online optimal, static early exit). Each decides per batch when
 * every input's answer is released and how long the batch holds the executor.
 */
import { staticEarlyExit, chooseConfig, offlineOptimal } from '../control/baselines';
import { ApparateController, type ControllerOptions } from '../control/controller';
import { configCostsAt, costsAtBatch, latestUsefulIndex, type CostProfile } from '../control/costs';
import { serveWindow } from '../control/exit-rule';
import { concatWindows, selectRamps, type ExitWindow } from '../control/records';
import type { RampConfig } from '../control/ramp-config';
import type { BatchOutcome, ServingPolicy } from './replay';

export const SERVING_POLICY_NAMES = ['plain', 'apparate', 'optimal', 'online-optimal', 'static'] as const;
export type ServingPolicyName = (typeof SERVING_POLICY_NAMES)[number];

/** Observations of one batch: the inputs at `indices` of the all-candidates stream window. */
export function batchWindow(all: ExitWindow, indices: readonly number[]): ExitWindow {
  return {
    count: indices.length,
    confidence: all.confidence.map((column) => Float32Array.from(indices, (i) => column[i] as number)),
    agrees: all.agrees.map((column) => Uint8Array.from(indices, (i) => column[i] as number)),
  };
}

function fixedConfigOutcome(
  all: ExitWindow,
  profile: CostProfile,
  active: readonly number[],
  thresholds: readonly number[],
  indices: readonly number[],
  paddedSize: number,
): BatchOutcome {
  const costs = configCostsAt(profile, active, paddedSize);
  const served = serveWindow(selectRamps(batchWindow(all, indices), active), thresholds, costs);
  return {
    batchMs: costs.finalMs,
    releaseMs: Array.from(served.latencyMs),
    exitAt: Array.from(served.exitIndex, (r) => (r < 0 ? -1 : (active[r] as number))),
    agrees: Array.from(served.agrees, (a) => a === 1),
  };
}

const NO_COUNTERS = { thresholdUpdates: 0, rampChanges: 0, configChanges: [] as number[] };

/** The plain model: every answer at the end of the batch. */
export function plainPolicy(profile: CostProfile): ServingPolicy {
  return {
    name: 'plain',
    plannedBatchMs: (size) => costsAtBatch(profile, size).plainMs,
    serveBatch(indices, paddedSize) {
      const ms = costsAtBatch(profile, paddedSize).plainMs;
      return {
        batchMs: ms,
        releaseMs: indices.map(() => ms),
        exitAt: indices.map(() => -1),
        agrees: indices.map(() => true),
      };
    },
    counters: () => NO_COUNTERS,
  };
}

/** Offline optimal: each input leaves at the first candidate that agrees with the final answer, at no ramp cost. */
export function optimalPolicy(all: ExitWindow, profile: CostProfile): ServingPolicy {
  return {
    name: 'optimal',
    plannedBatchMs: (size) => costsAtBatch(profile, size).plainMs,
    serveBatch(indices, paddedSize) {
      const costs = costsAtBatch(profile, paddedSize);
      const served = offlineOptimal(batchWindow(all, indices), costs);
      return {
        batchMs: costs.plainMs,
        releaseMs: Array.from(served.latencyMs),
        exitAt: Array.from(served.exitIndex),
        agrees: indices.map(() => true),
      };
    },
    counters: () => NO_COUNTERS,
  };
}

/**
 * Static early exit: a ramp at every useful candidate, always on, thresholds tuned once on the
 * bootstrap inputs (per ramp, with the same tuner) and never again.
 */
export function staticPolicy(
  all: ExitWindow,
  profile: CostProfile,
  bootstrap: readonly number[],
  constraint: number,
): ServingPolicy {
  const latest = latestUsefulIndex(profile);
  const active = Array.from({ length: Math.max(0, latest + 1) }, (_, i) => i);
  const tuned = staticEarlyExit(
    selectRamps(batchWindow(all, bootstrap), active),
    configCostsAt(profile, active, profile.referenceBatchSize),
    { constraint },
  );
  const thresholds = tuned.perRamp.thresholds;
  return {
    name: 'static',
    plannedBatchMs: (size) => configCostsAt(profile, active, size).finalMs,
    serveBatch: (indices, paddedSize) =>
      fixedConfigOutcome(all, profile, active, thresholds, indices, paddedSize),
    counters: () => ({ thresholdUpdates: 1, rampChanges: 0, configChanges: [] }),
  };
}

/** Online optimal: before each batch, the best config (within the budget) on the past k batches' observations. */
export function onlineOptimalPolicy(
  all: ExitWindow,
  profile: CostProfile,
  options: { constraint: number; rampBudget: number; pastBatches?: number },
): ServingPolicy {
  const past: ExitWindow[] = [];
  const pastBatches = options.pastBatches ?? 16;
  let changes = 0;
  let previous = '';
  return {
    name: 'online-optimal',
    plannedBatchMs: (size) => costsAtBatch(profile, size).plainMs,
    serveBatch(indices, paddedSize) {
      const history = concatWindows(past, all.confidence.length);
      const chosen =
        history.count > 0
          ? chooseConfig(history, profile, paddedSize, {
              constraint: options.constraint,
              rampBudget: options.rampBudget,
            })
          : { active: [], thresholds: [] };
      const key = `${chosen.active.join(',')}|${chosen.thresholds.join(',')}`;
      if (key !== previous) changes++;
      previous = key;
      const outcome = fixedConfigOutcome(all, profile, chosen.active, chosen.thresholds, indices, paddedSize);
      past.push(batchWindow(all, indices));
      if (past.length > pastBatches) past.shift();
      return outcome;
    },
    counters: () => ({ thresholdUpdates: changes, rampChanges: 0, configChanges: [] }),
  };
}

/** Apparate: the initial config from the bundle, then the online controller after every batch. */
export function apparatePolicy(
  all: ExitWindow,
  profile: CostProfile,
  initialConfig: RampConfig,
  options: {
    constraint: number;
    rampBudget: number;
    latestUsefulCandidate: string | null;
    /** Overrides of the controller's tuning knobs (window, periods, headroom). */
    controller?: Partial<ControllerOptions>;
  },
): ServingPolicy {
  const controller = new ApparateController({
    ...options.controller,
    profile,
    initialConfig,
    constraint: options.constraint,
    rampBudget: options.rampBudget,
    latestUsefulCandidate: options.latestUsefulCandidate,
  });
  const ids = profile.candidates.map((c) => c.id);
  const configChanges: number[] = [];
  const current = () => {
    const config = controller.config;
    return {
      active: config.ramps.map((r) => ids.indexOf(r.id)),
      thresholds: config.ramps.map((r) => r.threshold),
    };
  };
  return {
    name: 'apparate',
    plannedBatchMs: (size) => configCostsAt(profile, current().active, size).finalMs,
    serveBatch(indices, paddedSize, nowMs) {
      const { active, thresholds } = current();
      const outcome = fixedConfigOutcome(all, profile, active, thresholds, indices, paddedSize);
      const result = controller.observeBatch(selectRamps(batchWindow(all, indices), active), paddedSize);
      if (result.thresholdsChanged || result.rampsChanged) configChanges.push(nowMs + outcome.batchMs);
      return outcome;
    },
    counters: () => ({
      thresholdUpdates: controller.counters.thresholdUpdates,
      rampChanges: controller.counters.rampChanges,
      configChanges,
    }),
  };
}
