/**
 * The fleet controller of one task, run every period (a scheduled Lambda on AWS): it measures the
 * task's load from its variants' exit logs, forecasts and plans (`decideFleet`), publishes a new
 * plan with the plan store's conditional writes, and sets every variant's worker count to the plan
 * in force, which is how the fleet follows it (one Auto Scaling group per variant, docs/deploy.md).
 * Capacity is set on every run, even when the plan is kept, so a group changed by hand or a failed
 * call is corrected within a period.
 */
import type { ExitLogItem, PlanStore } from '../../adapters/dynamo';
import { PlanConflictError } from '../../adapters/dynamo';
import { decideFleet } from '../../core/fleet/fleet-decision';
import { intervalPeaks, type Forecaster } from '../../core/fleet/forecast';
import { workersByVariant } from '../../core/fleet/plan';
import type { PlannerSettings, PlanningOption } from '../../core/fleet/planner';
import type { VersionedPlan } from '../../core/fleet/published-plan';
import type { Logger } from '../../core/util/json-lines-logger';
import { messageOf } from '../../core/util/json-lines-logger';

/** Sets how many workers serve a variant (an Auto Scaling group's desired capacity on AWS). */
export interface WorkerCapacity {
  setWorkers(variant: string, workers: number): Promise<void>;
}

export interface FleetControllerDeps {
  readonly task: string;
  /** The task's variants this deployment runs; each has its own workers. */
  readonly variants: readonly string[];
  readonly plans: Pick<PlanStore, 'latest' | 'publish'>;
  readonly exitLogs: { since(model: string, sinceMs: number, untilMs?: number): Promise<ExitLogItem[]> };
  readonly capacity: WorkerCapacity;
  readonly options: readonly PlanningOption[];
  readonly forecaster: Forecaster;
  readonly settings: PlannerSettings;
  /** The decision period, ms (one minute on AWS). */
  readonly periodMs: number;
  /** Past periods the forecaster sees. @default 10 (InfAdapter's window) */
  readonly lookbackPeriods?: number;
  readonly nowMs: number;
  readonly logger: Logger;
}

export interface FleetControllerReport {
  readonly task: string;
  readonly forecastRps: number;
  readonly peaks: readonly number[];
  readonly decision: 'replanned' | 'kept' | 'lost-race';
  /** The plan in force after the run, whose worker counts were set. */
  readonly plan: VersionedPlan;
  readonly workers: Readonly<Record<string, number>>;
  /** Variants whose capacity could not be set, with why. */
  readonly capacityErrors: Readonly<Record<string, string>>;
}

export async function runFleetController(deps: FleetControllerDeps): Promise<FleetControllerReport> {
  const peaks = await measuredPeaks(deps);
  const latest = (await deps.plans.latest(deps.task))?.plan;
  const decision = decideFleet({
    task: deps.task,
    nowMs: deps.nowMs,
    periodMs: deps.periodMs,
    peaks,
    forecaster: deps.forecaster,
    latest,
    options: deps.options.filter((o) => deps.variants.includes(o.variant)),
    settings: deps.settings,
  });
  let inForce = decision.plan;
  let outcome: FleetControllerReport['decision'] = decision.kind;
  if (decision.kind === 'replanned') {
    try {
      await deps.plans.publish(deps.task, decision.plan);
    } catch (error) {
      if (!(error instanceof PlanConflictError)) throw error;
      // Another run published first: follow what won.
      outcome = 'lost-race';
      inForce = (await deps.plans.latest(deps.task))?.plan ?? decision.plan;
    }
  }
  const planned = workersByVariant(inForce.plan);
  const workers = Object.fromEntries(deps.variants.map((v) => [v, planned.get(v) ?? 0]));
  const capacityErrors: Record<string, string> = {};
  await Promise.all(
    Object.entries(workers).map(async ([variant, count]) => {
      try {
        await deps.capacity.setWorkers(variant, count);
      } catch (error) {
        capacityErrors[variant] = messageOf(error);
      }
    }),
  );
  const report: FleetControllerReport = {
    task: deps.task,
    forecastRps: decision.forecastRps,
    peaks,
    decision: outcome,
    plan: inForce,
    workers,
    capacityErrors,
  };
  deps.logger.log(Object.keys(capacityErrors).length > 0 ? 'error' : 'info', 'fleet controller run', {
    task: deps.task,
    decision: outcome,
    version: inForce.version,
    forecastRps: decision.forecastRps,
    workers,
    ...(Object.keys(capacityErrors).length > 0 ? { capacityErrors } : {}),
  });
  return report;
}

/**
 * Each whole past period's peak requests per second over all the task's variants, from the batches
 * their workers logged (by batch start; the period in progress is left out).
 */
async function measuredPeaks(deps: FleetControllerDeps): Promise<number[]> {
  const periods = deps.lookbackPeriods ?? 10;
  const periodSeconds = Math.max(1, Math.round(deps.periodMs / 1000));
  const endMs = Math.floor(deps.nowMs / deps.periodMs) * deps.periodMs;
  const startMs = Math.max(0, endMs - periods * deps.periodMs);
  const perSecond = new Float64Array(Math.round((endMs - startMs) / 1000));
  for (const variant of deps.variants) {
    for (const batch of await deps.exitLogs.since(variant, startMs, endMs)) {
      const second = Math.floor((batch.startedAtMs - startMs) / 1000);
      if (second >= 0 && second < perSecond.length)
        perSecond[second] = (perSecond[second] as number) + batch.batchSize;
    }
  }
  return Array.from(intervalPeaks(perSecond, periodSeconds));
}
