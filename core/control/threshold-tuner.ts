/**
 * Accuracy-aware threshold tuning: greedy hill climbing over per-ramp thresholds on a window of
 * recent inputs, maximising the latency saved while the window's agreement meets the constraint.
 *
 * Each round tries raising every movable ramp's threshold by that ramp's own step; among the
 * moves that keep the window at or above the constraint and make the mean latency strictly
 * lower, it keeps the one that loses the fewest correct answers per millisecond saved (ties: the
 * larger saving, then the shallower ramp). A kept move doubles its ramp's step; a round that
 * keeps nothing halves every step, and tuning stops once all steps are below the minimum.
 *
 * Decisions on the reference behaviour's quirks (each has a test named after it):
 * - Index-0 falsy test: ramp 0 is an ordinary candidate move. "No move" is represented by the
 *   absence of a move, never by index 0, so the shallowest ramp is raised whenever it is best.
 * - Bumping ramp 0 when every move leaves latency unchanged: not done. A raise that changes no
 *   input's exit on the window has no evidence behind it and would lift a threshold blindly into
 *   confidences never seen. Instead, a step that would move no input is lengthened to reach the
 *   nearest input that this ramp can take (that input's `1 − confidence` plus the step), so
 *   flat stretches are crossed on evidence; a ramp that no input can still reach stays put.
 * - Tuning budget 100× stricter than the stated constraint: not carried over. The tuner uses the
 *   constraint it is given, inclusively (agreement ≥ constraint). Callers wanting headroom pass a
 *   stricter constraint explicitly, where it is visible.
 * - Dropping the last sample of a batch list: every input of the window is evaluated, the last
 *   one included; windows are joined by `concatWindows`, which keeps every input.
 * - Other departures: only the kept ramp's step doubles (the reference also doubled the steps of
 *   ramps whose moves were neutral), thresholds are not rounded, and they are capped at exactly 1.
 */
import { InputError } from '../errors';
import { checkThresholds, evaluationFromCounts, meetsConstraint, type ConfigEvaluation } from './exit-rule';
import type { ConfigCosts, ExitWindow } from './records';
import { ACCURACY_CONSTRAINT } from './limits';

/** Options of one tune; every default is the design guide's. */
export interface TuneOptions {
  /** The accuracy constraint: minimum window agreement with the full model, inclusive (default 0.99). */
  readonly constraint?: number;
  /** Starting thresholds (default all 0). */
  readonly initial?: readonly number[];
  /** First step of every movable ramp (default 0.01). */
  readonly initialStep?: number;
  /** Tuning stops once every step is below this (default 0.001). */
  readonly minStep?: number;
  /** Indices of ramps whose thresholds stay at their starting values. */
  readonly fixed?: readonly number[];
  /** Safety cap on rounds (default 10 000); tuning ends well before it in practice. */
  readonly maxRounds?: number;
}

/** The tuned thresholds and what they achieve on the window. */
export interface TuneResult {
  readonly thresholds: number[];
  readonly evaluation: ConfigEvaluation;
  /** Rounds run, each trying every movable ramp once. */
  readonly rounds: number;
  /** Moves kept. */
  readonly moves: number;
  /** Whether the window meets the constraint; false only if the starting thresholds did not. */
  readonly meetsConstraint: boolean;
}

/** The design guide's accuracy constraint: 99% of released answers equal the plain model's. */
export const DEFAULT_CONSTRAINT = ACCURACY_CONSTRAINT.default;
/** First step per ramp; small enough that the first move rarely overshoots on real confidences. */
export const DEFAULT_INITIAL_STEP = 0.01;
/** Steps below this change too few inputs on a 512-input window to be worth another round. */
export const DEFAULT_MIN_STEP = 0.001;
const DEFAULT_MAX_ROUNDS = 10_000;

function checkUnit(value: number, what: string, allowZero: boolean): void {
  if (!(value <= 1 && (allowZero ? value >= 0 : value > 0))) {
    throw new InputError(`${what} must lie in ${allowZero ? '[0, 1]' : '(0, 1]'}, got ${value}`);
  }
}

/** A trial move: the threshold it would set and the counts it would produce. */
interface Move {
  readonly ramp: number;
  readonly threshold: number;
  readonly correct: number;
  readonly latencySum: number;
  readonly exitCounts: Int32Array;
}

/**
 * Incremental view of one window under changing thresholds. Raising ramp d's threshold can only
 * pull inputs that currently leave later than d forward to d, so a move is evaluated by one pass
 * over the inputs with integer counts, and applying it touches only the inputs it moves.
 */
class ExitState {
  readonly ramps: number;
  readonly count: number;
  private readonly gaps: Float64Array[];
  private readonly agrees: readonly Uint8Array[];
  /** exitAt[i]: ramp where input i leaves, or `ramps` for the end. */
  private readonly exitAt: Int32Array;
  readonly exitCounts: Int32Array;
  correct: number;
  private readonly exitMs: Float64Array;
  private readonly origins: Int32Array;

  constructor(window: ExitWindow, thresholds: readonly number[], costs: ConfigCosts) {
    this.ramps = window.confidence.length;
    this.count = window.count;
    this.agrees = window.agrees;
    this.gaps = window.confidence.map((column) => {
      const gaps = new Float64Array(column.length);
      for (let i = 0; i < column.length; i++) gaps[i] = 1 - (column[i] as number);
      return gaps;
    });
    this.exitMs = Float64Array.from([...costs.exitMs, costs.finalMs]);
    this.exitAt = new Int32Array(this.count);
    this.origins = new Int32Array(this.ramps + 1);
    this.exitCounts = new Int32Array(this.ramps + 1);
    this.correct = 0;
    for (let i = 0; i < this.count; i++) {
      let exit = this.ramps;
      for (let r = 0; r < this.ramps; r++) {
        if (((this.gaps[r] as Float64Array)[i] as number) < (thresholds[r] as number)) {
          exit = r;
          break;
        }
      }
      this.exitAt[i] = exit;
      this.exitCounts[exit] = (this.exitCounts[exit] as number) + 1;
      this.correct += exit === this.ramps ? 1 : ((this.agrees[exit] as Uint8Array)[i] as number);
    }
  }

  /** Sum over inputs of their latency, summed in the same order as `evaluationFromCounts`. */
  latencySum(counts: Int32Array): number {
    let sum = (counts[this.ramps] as number) * (this.exitMs[this.ramps] as number);
    for (let r = 0; r < this.ramps; r++) sum += (counts[r] as number) * (this.exitMs[r] as number);
    return sum;
  }

  /**
   * Counts after raising ramp d's threshold to `threshold`, or null when no input would move;
   * `nearestGap` then says the smallest `1 − confidence` of an input that d could still take.
   */
  trial(d: number, threshold: number): { move: Move | null; nearestGap: number } {
    const gaps = this.gaps[d] as Float64Array;
    const agrees = this.agrees[d] as Uint8Array;
    const origins = this.origins;
    origins.fill(0);
    let correctDelta = 0;
    let moved = 0;
    let nearestGap = Infinity;
    for (let i = 0; i < this.count; i++) {
      const exit = this.exitAt[i] as number;
      if (exit <= d) continue;
      const gap = gaps[i] as number;
      if (gap < threshold) {
        origins[exit] = (origins[exit] as number) + 1;
        moved++;
        const before = exit === this.ramps ? 1 : ((this.agrees[exit] as Uint8Array)[i] as number);
        correctDelta += (agrees[i] as number) - before;
      } else if (gap < nearestGap) {
        nearestGap = gap;
      }
    }
    if (moved === 0) return { move: null, nearestGap };
    const exitCounts = Int32Array.from(this.exitCounts);
    for (let e = d + 1; e <= this.ramps; e++)
      exitCounts[e] = (exitCounts[e] as number) - (origins[e] as number);
    exitCounts[d] = (exitCounts[d] as number) + moved;
    return {
      move: {
        ramp: d,
        threshold,
        correct: this.correct + correctDelta,
        latencySum: this.latencySum(exitCounts),
        exitCounts,
      },
      nearestGap,
    };
  }

  /** Applies a move found by `trial`. */
  apply(move: Move): void {
    const gaps = this.gaps[move.ramp] as Float64Array;
    for (let i = 0; i < this.count; i++) {
      if ((this.exitAt[i] as number) > move.ramp && (gaps[i] as number) < move.threshold)
        this.exitAt[i] = move.ramp;
    }
    this.exitCounts.set(move.exitCounts);
    this.correct = move.correct;
  }
}

/**
 * Tunes thresholds on a window by greedy hill climbing (see the file comment for the rules and
 * for how the reference's quirks were decided). The tuner only raises thresholds: if the
 * starting thresholds already miss the constraint, lower them first with
 * `lowerThresholdsToMeetConstraint`.
 */
export function tuneThresholds(
  window: ExitWindow,
  costs: ConfigCosts,
  options: TuneOptions = {},
): TuneResult {
  const ramps = window.confidence.length;
  const constraint = options.constraint ?? DEFAULT_CONSTRAINT;
  const initialStep = options.initialStep ?? DEFAULT_INITIAL_STEP;
  const minStep = options.minStep ?? DEFAULT_MIN_STEP;
  const maxRounds = options.maxRounds ?? DEFAULT_MAX_ROUNDS;
  checkUnit(constraint, 'constraint', true);
  checkUnit(initialStep, 'initialStep', false);
  checkUnit(minStep, 'minStep', false);
  if (!(Number.isInteger(maxRounds) && maxRounds >= 0))
    throw new InputError(`maxRounds must be a non-negative integer`);
  if (costs.exitMs.length !== ramps)
    throw new InputError(`costs describe ${costs.exitMs.length} exits for ${ramps} ramps`);
  const thresholds = options.initial ? [...options.initial] : new Array<number>(ramps).fill(0);
  checkThresholds(window, thresholds);
  const movable = new Array<boolean>(ramps).fill(true);
  for (const index of options.fixed ?? []) {
    if (!(Number.isInteger(index) && index >= 0 && index < ramps))
      throw new InputError(`fixed ramp ${index} is out of range`);
    movable[index] = false;
  }

  const state = new ExitState(window, thresholds, costs);
  const steps = new Array<number>(ramps).fill(initialStep);
  let latencySum = state.latencySum(state.exitCounts);
  const starting = meetsConstraint(state.count === 0 ? 1 : state.correct / state.count, constraint);
  let rounds = 0;
  let moves = 0;
  while (starting && rounds < maxRounds && state.count > 0) {
    if (!steps.some((step, r) => movable[r] && step >= minStep)) break;
    rounds++;
    let best: Move | null = null;
    let bestScore = Infinity;
    let bestGain = 0;
    for (let d = 0; d < ramps; d++) {
      const current = thresholds[d] as number;
      if (!movable[d] || current >= 1) continue;
      const step = steps[d] as number;
      const first = state.trial(d, Math.min(1, current + step));
      let move = first.move;
      if (move === null && first.nearestGap < 1)
        move = state.trial(d, Math.min(1, first.nearestGap + step)).move;
      if (move === null || !meetsConstraint(move.correct / state.count, constraint)) continue;
      const gain = latencySum - move.latencySum;
      if (!(gain > 0)) continue;
      const score = (state.correct - move.correct) / gain;
      if (score < bestScore || (score === bestScore && gain > bestGain)) {
        best = move;
        bestScore = score;
        bestGain = gain;
      }
    }
    if (best !== null) {
      state.apply(best);
      thresholds[best.ramp] = best.threshold;
      steps[best.ramp] = (steps[best.ramp] as number) * 2;
      latencySum = best.latencySum;
      moves++;
    } else {
      for (let r = 0; r < ramps; r++) if (movable[r]) steps[r] = (steps[r] as number) / 2;
    }
  }
  const evaluation = evaluationFromCounts(state.exitCounts, state.correct, state.count, costs);
  return {
    thresholds,
    evaluation,
    rounds,
    moves,
    meetsConstraint: meetsConstraint(evaluation.agreement, constraint),
  };
}

/** Result of the local guard. */
export interface GuardResult {
  readonly thresholds: number[];
  /** Window agreement under the returned thresholds. */
  readonly agreement: number;
  /** Whether any threshold was lowered. */
  readonly lowered: boolean;
}

/**
 * The worker's fast local guard: when the window misses the constraint, make exiting more
 * conservative without waiting for a retune. Thresholds only ever go down. The ramp whose exits
 * agree least often is lowered first, just below its least confident wrong exit (removing that
 * exit and every less confident one); agreement is recomputed after each step, since inputs
 * pushed past one ramp may exit at the next. All thresholds at 0 exit nothing and so always meet
 * the constraint, which bounds the loop.
 */
export function lowerThresholdsToMeetConstraint(
  window: ExitWindow,
  thresholds: readonly number[],
  constraint: number = DEFAULT_CONSTRAINT,
): GuardResult {
  checkThresholds(window, thresholds);
  checkUnit(constraint, 'constraint', true);
  const ramps = window.confidence.length;
  const current = [...thresholds];
  let lowered = false;
  const exits = new Int32Array(ramps);
  const agreeing = new Int32Array(ramps);
  const worstWrongGap = new Float64Array(ramps);
  for (;;) {
    exits.fill(0);
    agreeing.fill(0);
    worstWrongGap.fill(-1);
    let correct = 0;
    for (let i = 0; i < window.count; i++) {
      let exit = -1;
      let gap = 0;
      for (let r = 0; r < ramps; r++) {
        gap = 1 - ((window.confidence[r] as Float32Array)[i] as number);
        if (gap < (current[r] as number)) {
          exit = r;
          break;
        }
      }
      if (exit < 0) {
        correct++;
        continue;
      }
      exits[exit] = (exits[exit] as number) + 1;
      if ((window.agrees[exit] as Uint8Array)[i] === 1) {
        agreeing[exit] = (agreeing[exit] as number) + 1;
        correct++;
      } else if (gap > (worstWrongGap[exit] as number)) {
        worstWrongGap[exit] = gap;
      }
    }
    const agreement = window.count === 0 ? 1 : correct / window.count;
    if (meetsConstraint(agreement, constraint)) return { thresholds: current, agreement, lowered };
    let worst = -1;
    let worstAgreement = Infinity;
    for (let r = 0; r < ramps; r++) {
      if ((worstWrongGap[r] as number) < 0) continue;
      const rampAgreement = (agreeing[r] as number) / (exits[r] as number);
      if (rampAgreement < worstAgreement) {
        worst = r;
        worstAgreement = rampAgreement;
      }
    }
    // A window below the constraint always has a wrong exit somewhere; the check keeps the loop total.
    if (worst < 0) return { thresholds: current, agreement, lowered };
    current[worst] = worstWrongGap[worst] as number;
    lowered = true;
  }
}
