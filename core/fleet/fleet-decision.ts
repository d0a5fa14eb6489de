/**
 * One scheduled fleet decision, without state of its own: the published plan is the memory. Each
 * period the forecaster predicts the next interval's peak from the last intervals' peaks (+10%, as
 * InfAdapter); a forecast above the rate the newest plan was sized for re-plans at once, and a lower
 * one keeps that plan until it is `stabilisationIntervals` periods old, so scaling up is immediate
 * and scaling down waits (the `PlanStabiliser` rule, expressed by the plan's age so that a
 * controller that keeps nothing between runs, a Lambda, applies it too).
 */
import { FORECAST_MARGIN, type Forecaster } from './forecast';
import { planFleet, type PlannerSettings, type PlanningOption } from './planner';
import { workersByVariant } from './plan';
import type { VersionedPlan } from './published-plan';

export interface FleetDecisionInput {
  readonly task: string;
  readonly nowMs: number;
  /** The decision period (InfAdapter: one minute), ms. */
  readonly periodMs: number;
  /** Peak requests per second of each past period, oldest first (may be empty). */
  readonly peaks: readonly number[];
  readonly forecaster: Forecaster;
  /** The newest published plan of the task, if any. */
  readonly latest: VersionedPlan | undefined;
  readonly options: readonly PlanningOption[];
  readonly settings: PlannerSettings;
  /** Periods a lower forecast waits before the plan shrinks. @default 4 */
  readonly stabilisationIntervals?: number;
}

export type FleetDecision =
  | { readonly kind: 'replanned'; readonly plan: VersionedPlan; readonly forecastRps: number }
  | { readonly kind: 'kept'; readonly plan: VersionedPlan; readonly forecastRps: number };

export function decideFleet(input: FleetDecisionInput): FleetDecision {
  const forecastRps =
    input.forecaster.predict(input.peaks.length > 0 ? input.peaks : [0]) * (1 + FORECAST_MARGIN);
  const { latest } = input;
  const intervals = input.stabilisationIntervals ?? 4;
  if (
    latest !== undefined &&
    forecastRps <= latest.plan.forecastRps &&
    input.nowMs - latest.decidedAtMs < intervals * input.periodMs
  ) {
    return { kind: 'kept', plan: latest, forecastRps };
  }
  const plan = planFleet({
    task: input.task,
    forecastRps,
    options: input.options,
    ...(latest === undefined ? {} : { current: workersByVariant(latest.plan) }),
    settings: input.settings,
  });
  return {
    kind: 'replanned',
    plan: { version: latest === undefined ? 0 : latest.version + 1, decidedAtMs: input.nowMs, plan },
    forecastRps,
  };
}
