/**
 * The data the control logic works on: per-input observations of a set of ramps, stored
 * column-wise so that the exit rule and the tuner walk typed arrays, and the latency model of one
 * ramp configuration. The same shapes serve the worker's local guard, the scheduled controller
 * and the replay simulator, so every helper here is pure: windows are never mutated, and slices
 * share memory with the window they come from.
 */
import { InputError } from '../errors';

/** Per-input observations for the ACTIVE ramps of one config, columnar, shallow→deep. */
export interface ExitWindow {
  readonly count: number;
  /** confidence[r][i]: max softmax probability of active ramp r on input i. */
  readonly confidence: readonly Float32Array[];
  /** agrees[r][i]: 1 if ramp r's prediction equals the final model's prediction on input i, else 0. */
  readonly agrees: readonly Uint8Array[];
}

/** Latency model of one config at one batch size, in ms, from the bundle's profile. */
export interface ConfigCosts {
  /** exitMs[r]: time from batch start until an input exiting at active ramp r is released
   *  (backbone up to ramp r + the costs of active ramps 0..r). */
  readonly exitMs: readonly number[];
  /** Time until a non-exiting input's answer: plain model + all active ramps' costs. */
  readonly finalMs: number;
  /** Plain model, no ramps. */
  readonly plainMs: number;
  /** rampMs[r]: own cost of active ramp r. */
  readonly rampMs: readonly number[];
}

/** One input's observations, one entry per ramp; the row form is for tests and hand-built examples. */
export interface ExitRow {
  readonly confidence: readonly number[];
  readonly agrees: readonly (boolean | number)[];
}

/**
 * Builds a window from per-input rows. Rows are how people write small examples; the columnar
 * result is what the hot loops need. `rampCount` is needed only for an empty window.
 */
export function windowFromRows(rows: readonly ExitRow[], rampCount?: number): ExitWindow {
  const ramps = rampCount ?? rows[0]?.confidence.length ?? 0;
  const confidence = Array.from({ length: ramps }, () => new Float32Array(rows.length));
  const agrees = Array.from({ length: ramps }, () => new Uint8Array(rows.length));
  rows.forEach((row, i) => {
    if (row.confidence.length !== ramps || row.agrees.length !== ramps) {
      throw new InputError(
        `row ${i} has ${row.confidence.length} confidences and ${row.agrees.length} agreements; expected ${ramps} of each`,
      );
    }
    for (let r = 0; r < ramps; r++) {
      (confidence[r] as Float32Array)[i] = row.confidence[r] as number;
      (agrees[r] as Uint8Array)[i] = row.agrees[r] ? 1 : 0;
    }
  });
  const window = { count: rows.length, confidence, agrees };
  validateWindow(window);
  return window;
}

/**
 * Builds a window from per-ramp columns (copied), for callers that already hold arrays, such as
 * a worker that collected one batch's confidences and agreement flags.
 */
export function windowFromColumns(
  confidence: readonly ArrayLike<number>[],
  agrees: readonly ArrayLike<number | boolean>[],
): ExitWindow {
  if (confidence.length !== agrees.length) {
    throw new InputError(
      `window has ${confidence.length} confidence columns but ${agrees.length} agreement columns`,
    );
  }
  const count = confidence[0]?.length ?? 0;
  const window = {
    count,
    confidence: confidence.map((column) => Float32Array.from(column)),
    agrees: agrees.map((column) => Uint8Array.from(column, (value) => (value ? 1 : 0))),
  };
  validateWindow(window);
  return window;
}

/** Observations as the replay simulator records them: a prediction per candidate and the final one. */
export interface PredictionColumns {
  readonly count: number;
  readonly confidence: readonly Float32Array[];
  readonly prediction: readonly ArrayLike<number>[];
  readonly finalPrediction: ArrayLike<number>;
}

/**
 * Turns recorded predictions into agreement flags, so the simulator can hand its all-candidate
 * observations to the same control code as the worker. The confidence columns are shared, not copied.
 */
export function windowFromPredictions(observations: PredictionColumns): ExitWindow {
  const { count, finalPrediction } = observations;
  const agrees = observations.prediction.map((column) => {
    const flags = new Uint8Array(count);
    for (let i = 0; i < count; i++) flags[i] = column[i] === finalPrediction[i] ? 1 : 0;
    return flags;
  });
  const window = { count, confidence: observations.confidence, agrees };
  validateWindow(window);
  return window;
}

/** A window with no inputs for `rampCount` ramps: the state right after the ramp set changes. */
export function emptyWindow(rampCount: number): ExitWindow {
  return {
    count: 0,
    confidence: Array.from({ length: rampCount }, () => new Float32Array(0)),
    agrees: Array.from({ length: rampCount }, () => new Uint8Array(0)),
  };
}

/**
 * Rejects windows whose columns disagree in length or whose confidences are outside [0, 1] (or
 * NaN), because the exit rule would silently treat such inputs as never exiting or always exiting.
 */
export function validateWindow(window: ExitWindow): void {
  if (!Number.isInteger(window.count) || window.count < 0) {
    throw new InputError(`window count must be a non-negative integer, got ${window.count}`);
  }
  if (window.confidence.length !== window.agrees.length) {
    throw new InputError(
      `window has ${window.confidence.length} confidence columns but ${window.agrees.length} agreement columns`,
    );
  }
  window.confidence.forEach((column, r) => {
    const flags = window.agrees[r] as Uint8Array;
    if (column.length !== window.count || flags.length !== window.count) {
      throw new InputError(
        `ramp ${r} has ${column.length} confidences and ${flags.length} flags; expected ${window.count}`,
      );
    }
    for (let i = 0; i < column.length; i++) {
      const value = column[i] as number;
      if (!(value >= 0 && value <= 1))
        throw new InputError(`ramp ${r} input ${i}: confidence ${value} is not in [0, 1]`);
    }
  });
}

/** Inputs `start` (inclusive) to `end` (exclusive) as a view sharing memory with `window`. */
export function sliceWindow(window: ExitWindow, start: number, end: number = window.count): ExitWindow {
  const from = Math.max(0, Math.min(window.count, Math.floor(start)));
  const to = Math.max(from, Math.min(window.count, Math.floor(end)));
  return {
    count: to - from,
    confidence: window.confidence.map((column) => column.subarray(from, to)),
    agrees: window.agrees.map((column) => column.subarray(from, to)),
  };
}

/** The most recent `maxInputs` inputs (all of them when there are fewer), as a shared view. */
export function lastInputs(window: ExitWindow, maxInputs: number): ExitWindow {
  return sliceWindow(window, window.count - Math.max(0, Math.floor(maxInputs)));
}

/**
 * Joins windows over the same ramps in order. Every input of every part is kept, the last one
 * included: a window that silently lost the tail of each batch would hide the newest mistakes.
 */
export function concatWindows(parts: readonly ExitWindow[], rampCount?: number): ExitWindow {
  const ramps = rampCount ?? parts[0]?.confidence.length ?? 0;
  let count = 0;
  for (const part of parts) {
    if (part.confidence.length !== ramps) {
      throw new InputError(`cannot join a window of ${part.confidence.length} ramps to one of ${ramps}`);
    }
    count += part.count;
  }
  const confidence = Array.from({ length: ramps }, () => new Float32Array(count));
  const agrees = Array.from({ length: ramps }, () => new Uint8Array(count));
  let offset = 0;
  for (const part of parts) {
    for (let r = 0; r < ramps; r++) {
      (confidence[r] as Float32Array).set(part.confidence[r] as Float32Array, offset);
      (agrees[r] as Uint8Array).set(part.agrees[r] as Uint8Array, offset);
    }
    offset += part.count;
  }
  return { count, confidence, agrees };
}

/**
 * Appends a batch and keeps the newest `maxInputs` inputs: the sliding window the controller
 * tunes on. Returns a fresh window, so a previous window handed to someone else stays valid.
 */
export function appendToWindow(window: ExitWindow, batch: ExitWindow, maxInputs: number): ExitWindow {
  const keep = Math.max(0, Math.floor(maxInputs));
  const fromBatch = Math.min(batch.count, keep);
  const fromWindow = Math.min(window.count, keep - fromBatch);
  return concatWindows(
    [lastInputs(window, fromWindow), lastInputs(batch, fromBatch)],
    window.confidence.length,
  );
}

/**
 * The window restricted to some ramps, in the order given (normally ascending candidate indices).
 * The simulator observes every candidate and evaluates a config by selecting its active subset;
 * columns are shared, not copied, so this costs nothing per input.
 */
export function selectRamps(window: ExitWindow, indices: readonly number[]): ExitWindow {
  const confidence: Float32Array[] = [];
  const agrees: Uint8Array[] = [];
  for (const index of indices) {
    const column = window.confidence[index];
    const flags = window.agrees[index];
    if (!Number.isInteger(index) || column === undefined || flags === undefined) {
      throw new InputError(
        `ramp index ${index} is not one of the window's ${window.confidence.length} ramps`,
      );
    }
    confidence.push(column);
    agrees.push(flags);
  }
  return { count: window.count, confidence, agrees };
}
