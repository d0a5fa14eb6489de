/**
 * Whether each active ramp pays for itself. A ramp saves time for the inputs that exit at it
 * (compared with where they would otherwise have left: the next active exit point) and costs its
 * own time for every input that reaches it and goes on. The difference, in milliseconds per
 * input, is what the ramp adjuster uses to switch ramps off, keep them, or look elsewhere.
 */
import { InputError } from '../errors';
import { evaluateConfig } from './exit-rule';
import type { ConfigCosts, ExitWindow } from './records';

/**
 * Utility per active ramp from exit rates (per ramp, then the end) under a config:
 * `rate[r] × (next exit point's ms − exitMs[r]) − (Σ rates after r, end included) × rampMs[r]`.
 * Taking rates rather than a window lets callers reuse an evaluation they already have.
 */
export function utilityFromExitRates(exitRates: readonly number[], costs: ConfigCosts): number[] {
  const ramps = costs.exitMs.length;
  if (exitRates.length !== ramps + 1) {
    throw new InputError(`${exitRates.length} exit rates given for ${ramps} ramps plus the end`);
  }
  const utilities: number[] = [];
  for (let r = 0; r < ramps; r++) {
    const rate = exitRates[r] as number;
    let passing = 0;
    for (let later = r + 1; later <= ramps; later++) passing += exitRates[later] as number;
    const here = costs.exitMs[r] as number;
    const next = r + 1 < ramps ? (costs.exitMs[r + 1] as number) : costs.finalMs;
    utilities.push(rate * (next - here) - passing * (costs.rampMs[r] as number));
  }
  return utilities;
}

/** Utility per active ramp over a window under the given thresholds, in ms per input. */
export function rampUtilities(
  window: ExitWindow,
  thresholds: readonly number[],
  costs: ConfigCosts,
): number[] {
  return utilityFromExitRates(evaluateConfig(window, thresholds, costs).exitRates, costs);
}
