/**
 * Agreement feedback for generation. Every generated position, once the full model has seen it
 * (at once, or at its deferred fill), is a complete observation: each ramp's confidence and top
 * token, and the full model's top token. That is exactly what a classifier's exit log holds per
 * input, so the same exit rule, tuner and guard apply unchanged; only the costs differ, and they
 * come from the measured time of each segment of a decoding step.
 *
 * Agreement is per token and given the same prefix: outputs diverge after the first changed token,
 * so comparing whole texts cannot steer thresholds (text-level exact match and ROUGE-L are
 * reported by the benchmark instead).
 */
import { InputError } from '../errors';
import { meetsConstraint } from '../control/exit-rule';
import type { ConfigCosts, ExitWindow } from '../control/records';
import {
  DEFAULT_CONSTRAINT,
  lowerThresholdsToMeetConstraint,
  tuneThresholds,
  type TuneResult,
} from '../control/threshold-tuner';
import type { TokenRecord } from './exit-decoder';

/** The most recent token records, bounded, in arrival order. */
export class TokenWindow {
  private readonly records: TokenRecord[] = [];

  constructor(
    readonly rampCount: number,
    readonly capacity: number = 2048,
  ) {
    if (!(Number.isInteger(capacity) && capacity >= 1))
      throw new InputError(`window capacity must be a positive integer, got ${capacity}`);
  }

  get count(): number {
    return this.records.length;
  }

  /** Adds records, dropping the oldest beyond the capacity. */
  push(records: readonly TokenRecord[]): void {
    for (const record of records) {
      if (record.confidence.length !== this.rampCount)
        throw new InputError(
          `a token record has ${record.confidence.length} ramps; the window has ${this.rampCount}`,
        );
      this.records.push(record);
    }
    const excess = this.records.length - this.capacity;
    if (excess > 0) this.records.splice(0, excess);
  }

  /** Share of released tokens equal to the full model's (1 for an empty window). */
  agreement(): number {
    if (this.records.length === 0) return 1;
    let agreeing = 0;
    for (const record of this.records) if (releasedAgrees(record)) agreeing++;
    return agreeing / this.records.length;
  }

  /** Share of tokens that exited at each ramp. */
  exitShares(): number[] {
    const shares = new Array<number>(this.rampCount).fill(0);
    for (const record of this.records) if (record.exitRamp !== null) shares[record.exitRamp]! += 1;
    return shares.map((count) => (this.records.length === 0 ? 0 : count / this.records.length));
  }

  /** The window as the control code's columnar exit window. */
  toExitWindow(): ExitWindow {
    const count = this.records.length;
    const confidence = Array.from({ length: this.rampCount }, () => new Float32Array(count));
    const agrees = Array.from({ length: this.rampCount }, () => new Uint8Array(count));
    this.records.forEach((record, i) => {
      for (let r = 0; r < this.rampCount; r++) {
        (confidence[r] as Float32Array)[i] = Math.min(1, Math.max(0, record.confidence[r] as number));
        (agrees[r] as Uint8Array)[i] = record.prediction[r] === record.full ? 1 : 0;
      }
    });
    return { count, confidence, agrees };
  }
}

/** Whether the token released for this position equals the full model's. */
export function releasedAgrees(record: TokenRecord): boolean {
  return record.exitRamp === null || record.prediction[record.exitRamp] === record.full;
}

/**
 * The latency model of one decoding step from measured segment times (ms, shallow to deep): a
 * token exiting at ramp r costs segments 0..r; one reaching the head costs them all. Ramps are
 * fused into their segments, so their own cost is inside the segment times. The deferred fill
 * is not charged to the exiting token: it rides in the batch of a later non-exiting one.
 */
export function stepCosts(segmentMs: readonly number[], plainMs: number): ConfigCosts {
  if (segmentMs.length < 1 || segmentMs.some((ms) => !(ms > 0)))
    throw new InputError('segment times must be positive milliseconds, one per segment');
  const exitMs: number[] = [];
  let sum = 0;
  for (const ms of segmentMs.slice(0, -1)) {
    sum += ms;
    exitMs.push(sum);
  }
  return {
    exitMs,
    finalMs: sum + (segmentMs[segmentMs.length - 1] as number),
    plainMs,
    rampMs: exitMs.map(() => 0),
  };
}

export interface RetuneResult {
  readonly thresholds: number[];
  /** Agreement of the window under the returned thresholds. */
  readonly agreement: number;
  /** 'guard': lowered because the window missed the constraint; 'tune': raised by the tuner. */
  readonly action: 'guard' | 'tune' | 'none';
  readonly tune?: TuneResult;
}

/**
 * One feedback round on a window: if the thresholds in force miss the constraint, lower them at
 * once (the guard); otherwise tune them afresh at `tuneConstraint` (the constraint plus the
 * loop's headroom, see core/control/headroom.ts) as far as the window allows.
 */
export function retuneTokenThresholds(
  window: TokenWindow,
  thresholds: readonly number[],
  costs: ConfigCosts,
  constraint: number = DEFAULT_CONSTRAINT,
  tuneConstraint: number = constraint,
): RetuneResult {
  const exitWindow = window.toExitWindow();
  if (exitWindow.count === 0) return { thresholds: [...thresholds], agreement: 1, action: 'none' };
  const guard = lowerThresholdsToMeetConstraint(exitWindow, thresholds, constraint);
  if (guard.lowered) return { thresholds: guard.thresholds, agreement: guard.agreement, action: 'guard' };
  // From zero, as the classifiers' controller tunes: the result depends on the window, not the path.
  const tune = tuneThresholds(exitWindow, costs, { constraint: tuneConstraint });
  const changed = tune.thresholds.some((t, i) => t !== thresholds[i]);
  return {
    thresholds: tune.thresholds,
    agreement: tune.evaluation.agreement,
    action: changed ? 'tune' : 'none',
    tune,
  };
}

/** Whether a window's released-token agreement meets the constraint. */
export function windowMeetsConstraint(window: TokenWindow, constraint: number = DEFAULT_CONSTRAINT): boolean {
  return meetsConstraint(window.agreement(), constraint);
}
