/**
 * The exit rule and what a config achieves under it over a window. This is the single
 * definition every other control component evaluates against, so the tuner, the utility, the
 * guard and the baselines cannot disagree about which input exits where.
 */
import { InputError } from '../errors';
import type { ConfigCosts, ExitWindow } from './records';

/** What one config achieves over a window. */
export interface ConfigEvaluation {
  /** Fraction of released answers equal to the final model's; an empty window counts as 1. */
  readonly agreement: number;
  /** Fraction of inputs exiting at each active ramp, then the fraction reaching the end (last). */
  readonly exitRates: number[];
  /** Mean time from batch start until an input's answer is released, in ms. */
  readonly meanLatencyMs: number;
  /** 1 − meanLatencyMs / plainMs: the share of the plain model's latency saved. */
  readonly savingsFraction: number;
}

/**
 * The exit rule at one ramp: an input leaves when `1 − confidence < threshold`. Threshold 0 can
 * never be met, so a ramp at 0 observes without exiting. The worker applies it as each ramp's
 * outputs arrive; everything else evaluates windows with `exitIndex`.
 */
export function exitsAt(confidence: number, threshold: number): boolean {
  return 1 - confidence < threshold;
}

/** Where input `i` leaves: the first ramp whose exit rule holds, or -1 when it runs to the end. */
export function exitIndex(window: ExitWindow, i: number, thresholds: ArrayLike<number>): number {
  const ramps = window.confidence.length;
  for (let r = 0; r < ramps; r++) {
    if (exitsAt((window.confidence[r] as Float32Array)[i] as number, thresholds[r] as number)) return r;
  }
  return -1;
}

/** Rejects thresholds that do not match the window's ramps or lie outside [0, 1]. */
export function checkThresholds(window: ExitWindow, thresholds: ArrayLike<number>): void {
  if (thresholds.length !== window.confidence.length) {
    throw new InputError(`${thresholds.length} thresholds given for ${window.confidence.length} ramps`);
  }
  for (let r = 0; r < thresholds.length; r++) {
    const value = thresholds[r] as number;
    if (!(value >= 0 && value <= 1))
      throw new InputError(`threshold ${r} is ${value}; thresholds lie in [0, 1]`);
  }
}

function checkCosts(window: ExitWindow, costs: ConfigCosts): void {
  const ramps = window.confidence.length;
  if (costs.exitMs.length !== ramps || costs.rampMs.length !== ramps) {
    throw new InputError(`costs describe ${costs.exitMs.length} exits for ${ramps} ramps`);
  }
  if (!(costs.plainMs > 0)) throw new InputError(`plainMs must be positive, got ${costs.plainMs}`);
}

/**
 * Counts where each input exits and how many released answers agree with the final model. The
 * tuner keeps the same integer counts incrementally, which is why latency is derived from counts
 * here too: both paths then produce identical numbers for the same thresholds.
 */
export function countExits(
  window: ExitWindow,
  thresholds: ArrayLike<number>,
): { exitCounts: Int32Array; correct: number } {
  const ramps = window.confidence.length;
  const exitCounts = new Int32Array(ramps + 1);
  let correct = 0;
  for (let i = 0; i < window.count; i++) {
    const r = exitIndex(window, i, thresholds);
    if (r < 0) {
      exitCounts[ramps] = (exitCounts[ramps] as number) + 1;
      correct++;
    } else {
      exitCounts[r] = (exitCounts[r] as number) + 1;
      correct += (window.agrees[r] as Uint8Array)[i] as number;
    }
  }
  return { exitCounts, correct };
}

/** Builds the evaluation from exit counts; shared by `evaluateConfig` and the tuner. */
export function evaluationFromCounts(
  exitCounts: ArrayLike<number>,
  correct: number,
  count: number,
  costs: ConfigCosts,
): ConfigEvaluation {
  const ramps = costs.exitMs.length;
  if (count === 0) {
    const exitRates = Array.from({ length: ramps + 1 }, (_, r) => (r === ramps ? 1 : 0));
    return {
      agreement: 1,
      exitRates,
      meanLatencyMs: costs.finalMs,
      savingsFraction: 1 - costs.finalMs / costs.plainMs,
    };
  }
  let latencySum = (exitCounts[ramps] as number) * costs.finalMs;
  for (let r = 0; r < ramps; r++) latencySum += (exitCounts[r] as number) * (costs.exitMs[r] as number);
  const exitRates = Array.from({ length: ramps + 1 }, (_, r) => (exitCounts[r] as number) / count);
  const meanLatencyMs = latencySum / count;
  return {
    agreement: correct / count,
    exitRates,
    meanLatencyMs,
    savingsFraction: 1 - meanLatencyMs / costs.plainMs,
  };
}

/**
 * Agreement, exit rates and mean latency of `thresholds` over `window`. An empty window reports
 * agreement 1 with every input reaching the end: with no evidence, the conservative reading.
 */
export function evaluateConfig(
  window: ExitWindow,
  thresholds: ArrayLike<number>,
  costs: ConfigCosts,
): ConfigEvaluation {
  checkThresholds(window, thresholds);
  checkCosts(window, costs);
  const { exitCounts, correct } = countExits(window, thresholds);
  return evaluationFromCounts(exitCounts, correct, window.count, costs);
}

/**
 * Per-input exit point (-1 = end) and serving latency under a config: what the simulator and the
 * baselines need to report medians rather than means.
 */
export function serveWindow(
  window: ExitWindow,
  thresholds: ArrayLike<number>,
  costs: ConfigCosts,
): { exitIndex: Int16Array; latencyMs: Float64Array; agrees: Uint8Array } {
  checkThresholds(window, thresholds);
  checkCosts(window, costs);
  const exits = new Int16Array(window.count);
  const latencyMs = new Float64Array(window.count);
  const agrees = new Uint8Array(window.count);
  for (let i = 0; i < window.count; i++) {
    const r = exitIndex(window, i, thresholds);
    exits[i] = r;
    latencyMs[i] = r < 0 ? costs.finalMs : (costs.exitMs[r] as number);
    agrees[i] = r < 0 ? 1 : ((window.agrees[r] as Uint8Array)[i] as number);
  }
  return { exitIndex: exits, latencyMs, agrees };
}

/** Tolerance on agreement comparisons, so 99 of 100 meets 0.99 despite binary fractions. */
export const AGREEMENT_TOLERANCE = 1e-9;

/** Whether an agreement meets the accuracy constraint (inclusive), with the shared tolerance. */
export function meetsConstraint(agreement: number, constraint: number): boolean {
  return agreement >= constraint - AGREEMENT_TOLERANCE;
}
