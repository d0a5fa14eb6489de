/**
 * Forecasters of the next interval's peak request rate from the peaks of past intervals. InfAdapter
 * predicts the next minute's highest per-second rate from the last ten per-minute maxima (an LSTM,
 * with an exponentially weighted mean as its fallback) and adds a 10% margin; the planner then
 * provisions for that peak. The methods here are documented statistical rivals, compared on the
 * Twitter trace by `npm run bench -- fleet` (docs/fleet.md): all are pure and O(history).
 */
import { InputError } from '../errors';

export interface Forecaster {
  readonly name: string;
  /** Peak of the next interval, before any margin, from past peaks (oldest first, at least one). */
  predict(peaks: readonly number[]): number;
}

/** InfAdapter's margin on every forecast: +10%. */
export const FORECAST_MARGIN = 0.1;

/** Per-interval peaks (highest per-second count) of a per-second series. */
export function intervalPeaks(perSecond: ArrayLike<number>, intervalSeconds: number): Float64Array {
  if (!(Number.isInteger(intervalSeconds) && intervalSeconds >= 1))
    throw new InputError(`interval must be a whole number of seconds ≥ 1, got ${intervalSeconds}`);
  const peaks = new Float64Array(Math.ceil(perSecond.length / intervalSeconds));
  for (let i = 0; i < perSecond.length; i++) {
    const k = Math.floor(i / intervalSeconds);
    peaks[k] = Math.max(peaks[k] as number, perSecond[i] as number);
  }
  return peaks;
}

/** Reactive: the last interval's peak (what target tracking reacts to). */
export const lastPeakForecaster: Forecaster = {
  name: 'last-peak',
  predict: (peaks) => peaks[peaks.length - 1] ?? 0,
};

/**
 * InfAdapter's fallback: the exponentially weighted mean (span 10, α = 2/11) of the last ten
 * peaks, as pandas' `ewm(span=10, adjust=True).mean()` gives it for the newest point.
 */
export const ewmaForecaster: Forecaster = {
  name: 'ewma',
  predict(peaks) {
    const recent = peaks.slice(-10);
    const alpha = 2 / 11;
    let weighted = 0;
    let weights = 0;
    for (let i = 0; i < recent.length; i++) {
      const w = (1 - alpha) ** (recent.length - 1 - i);
      weighted += w * (recent[i] as number);
      weights += w;
    }
    return weights > 0 ? weighted / weights : 0;
  },
};

/**
 * Holt's linear trend (double exponential smoothing) over the last 30 peaks, one step ahead; level
 * weight 0.5 and trend weight 0.2 (chosen on the trace's first two weeks, not on the evaluated
 * day). It follows ramps that a mean lags behind; the result never goes below zero.
 */
export const holtForecaster: Forecaster = {
  name: 'holt',
  predict(peaks) {
    const recent = peaks.slice(-30);
    if (recent.length === 0) return 0;
    let level = recent[0] as number;
    let trend = recent.length > 1 ? (recent[1] as number) - level : 0;
    for (let i = 1; i < recent.length; i++) {
      const previous = level;
      level = 0.5 * (recent[i] as number) + 0.5 * (level + trend);
      trend = 0.2 * (level - previous) + 0.8 * trend;
    }
    return Math.max(0, level + trend);
  },
};

/**
 * The maximum of the last five peaks: a conservative envelope that scales up at once and down only
 * when a burst has left the window (the same effect as InfAdapter's delayed scale-down).
 */
export const windowMaxForecaster: Forecaster = {
  name: 'max-5',
  predict: (peaks) => Math.max(0, ...peaks.slice(-5)),
};

/**
 * A forecaster applied in another unit: a model that learned the trace's own request counts (the
 * LSTM) forecasts a replay scaled by `scale` by seeing the unscaled peaks and scaling its answer.
 */
export function inScale(forecaster: Forecaster, scale: number): Forecaster {
  if (!(scale > 0)) throw new InputError(`scale must be a positive number, got ${scale}`);
  return {
    name: forecaster.name,
    predict: (peaks) => forecaster.predict(peaks.map((p) => p / scale)) * scale,
  };
}

export const FORECASTERS: readonly Forecaster[] = [
  lastPeakForecaster,
  ewmaForecaster,
  holtForecaster,
  windowMaxForecaster,
];

export interface ForecastErrors {
  readonly method: string;
  readonly intervals: number;
  /** Mean absolute percentage error of the prediction before the margin. */
  readonly mapePct: number;
  /** Root mean square error before the margin, req/s. */
  readonly rmseRps: number;
  /** Intervals whose real peak exceeded the forecast with its margin (under-provisioned), %. */
  readonly underPct: number;
  /** Mean of (forecast with margin − peak) / peak over all intervals: the provisioning excess, %. */
  readonly meanExcessPct: number;
}

/**
 * Scores a forecaster over peaks: each interval from `warmup` on is predicted from the ones before
 * it. Intervals whose real peak is zero are skipped (a collection gap, not a quiet service).
 */
export function scoreForecaster(
  forecaster: Forecaster,
  peaks: ArrayLike<number>,
  options: { warmup?: number; margin?: number } = {},
): ForecastErrors {
  const warmup = Math.max(1, options.warmup ?? 10);
  const margin = options.margin ?? FORECAST_MARGIN;
  const history = Array.from(peaks);
  let n = 0;
  let ape = 0;
  let se = 0;
  let under = 0;
  let excess = 0;
  for (let k = warmup; k < history.length; k++) {
    const actual = history[k] as number;
    if (actual <= 0) continue;
    const predicted = forecaster.predict(history.slice(Math.max(0, k - 30), k));
    n++;
    ape += Math.abs(predicted - actual) / actual;
    se += (predicted - actual) ** 2;
    const provisioned = predicted * (1 + margin);
    if (provisioned < actual) under++;
    excess += (provisioned - actual) / actual;
  }
  return {
    method: forecaster.name,
    intervals: n,
    mapePct: (100 * ape) / Math.max(1, n),
    rmseRps: Math.sqrt(se / Math.max(1, n)),
    underPct: (100 * under) / Math.max(1, n),
    meanExcessPct: (100 * excess) / Math.max(1, n),
  };
}
