/**
 * Training one ramp: multinomial logistic regression from pooled activations to the original
 * model's own predictions (the backbone stays frozen, so this is the whole of ramp training).
 *
 * Features are standardised during training, which makes one learning rate work for activations
 * of very different scales, and the standardisation is folded back into the weights at the end so
 * the deployed ramp stays "pooling + one linear layer" with no extra nodes.
 */
import { InputError } from '../errors';
import { SeededRandom } from '../util/random';

export interface RampTrainingData {
  /** Row-major [count, featureSize]. */
  readonly features: Float32Array;
  /** The original model's predicted class per row: the ramp's training label. */
  readonly labels: ArrayLike<number>;
  readonly count: number;
  readonly featureSize: number;
  readonly classes: number;
}

export interface RampTrainingOptions {
  readonly seed: number;
  /** Fraction of rows held out to measure agreement; the rest trains. */
  readonly validationFraction?: number;
  /**
   * Hold out fold `fold` of `folds` equal parts of the same seeded order instead of
   * `validationFraction` of it, so that ramps trained on every fold with one seed have held out
   * each input exactly once (cross-fitting, see core/prepare/cross-fitted.ts).
   */
  readonly heldOutFold?: { readonly fold: number; readonly folds: number };
  readonly epochs?: number;
  readonly learningRate?: number;
  readonly weightDecay?: number;
  readonly batchSize?: number;
}

export interface TrainedRamp {
  /** Row-major [featureSize, classes], applying to raw (unstandardised) features. */
  readonly weights: Float32Array;
  readonly bias: Float32Array;
  /** Fraction of held-out rows whose ramp prediction equals the original model's. */
  readonly validationAgreement: number;
  readonly trainAgreement: number;
  readonly trainCount: number;
  readonly validationCount: number;
  /** The held-out rows, so that what else is judged on unseen inputs uses the same ones. */
  readonly validationRows: Uint32Array;
}

export const DEFAULT_RAMP_TRAINING = {
  validationFraction: 0.1,
  epochs: 60,
  learningRate: 0.01,
  weightDecay: 0.03,
  batchSize: 32,
} as const;

function standardisation(
  data: RampTrainingData,
  rows: Uint32Array,
): { mean: Float64Array; scale: Float64Array } {
  const { featureSize: d, features } = data;
  const mean = new Float64Array(d);
  const sq = new Float64Array(d);
  for (const row of rows) {
    for (let j = 0; j < d; j++) {
      const v = features[row * d + j] as number;
      mean[j] = (mean[j] as number) + v;
      sq[j] = (sq[j] as number) + v * v;
    }
  }
  const scale = new Float64Array(d);
  for (let j = 0; j < d; j++) {
    const m = (mean[j] as number) / rows.length;
    mean[j] = m;
    const variance = Math.max(0, (sq[j] as number) / rows.length - m * m);
    scale[j] = variance > 1e-12 ? 1 / Math.sqrt(variance) : 0;
  }
  return { mean, scale };
}

/** Logits of one standardised row into `out`. */
function logitsInto(
  out: Float64Array,
  x: Float64Array,
  w: Float64Array,
  b: Float64Array,
  d: number,
  c: number,
): void {
  for (let k = 0; k < c; k++) out[k] = b[k] as number;
  for (let j = 0; j < d; j++) {
    const v = x[j] as number;
    if (v === 0) continue;
    const base = j * c;
    for (let k = 0; k < c; k++) out[k] = (out[k] as number) + v * (w[base + k] as number);
  }
}

function softmaxInPlace(values: Float64Array): void {
  let max = -Infinity;
  for (const v of values) max = Math.max(max, v);
  let sum = 0;
  for (let k = 0; k < values.length; k++) {
    const e = Math.exp((values[k] as number) - max);
    values[k] = e;
    sum += e;
  }
  for (let k = 0; k < values.length; k++) values[k] = (values[k] as number) / sum;
}

function argmaxOf(values: Float64Array): number {
  let best = 0;
  for (let k = 1; k < values.length; k++) if ((values[k] as number) > (values[best] as number)) best = k;
  return best;
}

/** Where in the seeded order the held-out rows lie: [start, end). */
function heldOutRange(
  count: number,
  validationFraction: number,
  heldOutFold: RampTrainingOptions['heldOutFold'],
): [number, number] {
  if (!heldOutFold) return [0, Math.max(1, Math.round(count * validationFraction))];
  const { fold, folds } = heldOutFold;
  if (!(
    Number.isInteger(folds) &&
    folds >= 2 &&
    folds <= count &&
    Number.isInteger(fold) &&
    fold >= 0 &&
    fold < folds
  )) {
    throw new InputError(
      `held-out fold must be an integer in [0, folds) with folds an integer in [2, ${count}] (the rows); got fold ${fold} of ${folds}`,
    );
  }
  return [Math.round((fold * count) / folds), Math.round(((fold + 1) * count) / folds)];
}

/** Trains a ramp with Adam on a seeded 90/10 split and reports its agreement on the held-out part. */
export function trainRamp(data: RampTrainingData, options: RampTrainingOptions): TrainedRamp {
  const { count, featureSize: d, classes: c, features, labels } = data;
  const settings = { ...DEFAULT_RAMP_TRAINING, ...options };
  if (count < 2 || features.length !== count * d || labels.length !== count) {
    throw new InputError(
      `ramp training needs at least 2 rows with ${d} features and a label each; got ${count} rows, ${features.length} values, ${labels.length} labels`,
    );
  }
  const random = new SeededRandom(settings.seed);
  const order = random.permutation(count);
  const [start, end] = heldOutRange(count, settings.validationFraction, options.heldOutFold);
  const validationRows = order.subarray(start, end);
  const validationCount = validationRows.length;
  const trainRows = new Uint32Array(count - validationCount);
  trainRows.set(order.subarray(0, start));
  trainRows.set(order.subarray(end), start);
  const { mean, scale } = standardisation(data, trainRows);

  const w = new Float64Array(d * c);
  const b = new Float64Array(c);
  const mW = new Float64Array(d * c);
  const vW = new Float64Array(d * c);
  const mB = new Float64Array(c);
  const vB = new Float64Array(c);
  const gW = new Float64Array(d * c);
  const gB = new Float64Array(c);
  const x = new Float64Array(d);
  const p = new Float64Array(c);
  const standardise = (row: number) => {
    for (let j = 0; j < d; j++)
      x[j] = ((features[row * d + j] as number) - (mean[j] as number)) * (scale[j] as number);
  };
  const beta1 = 0.9;
  const beta2 = 0.999;
  let step = 0;
  for (let epoch = 0; epoch < settings.epochs; epoch++) {
    const shuffled = random.permutation(trainRows.length);
    for (let start = 0; start < shuffled.length; start += settings.batchSize) {
      const end = Math.min(shuffled.length, start + settings.batchSize);
      gW.fill(0);
      gB.fill(0);
      for (let i = start; i < end; i++) {
        const row = trainRows[shuffled[i] as number] as number;
        standardise(row);
        logitsInto(p, x, w, b, d, c);
        softmaxInPlace(p);
        p[labels[row] as number] = (p[labels[row] as number] as number) - 1;
        for (let j = 0; j < d; j++) {
          const v = x[j] as number;
          if (v === 0) continue;
          for (let k = 0; k < c; k++) gW[j * c + k] = (gW[j * c + k] as number) + v * (p[k] as number);
        }
        for (let k = 0; k < c; k++) gB[k] = (gB[k] as number) + (p[k] as number);
      }
      const n = end - start;
      step++;
      const correction1 = 1 - beta1 ** step;
      const correction2 = 1 - beta2 ** step;
      const update = (
        param: Float64Array,
        grad: Float64Array,
        m: Float64Array,
        v: Float64Array,
        decay: number,
      ) => {
        for (let i = 0; i < param.length; i++) {
          const g = (grad[i] as number) / n;
          m[i] = beta1 * (m[i] as number) + (1 - beta1) * g;
          v[i] = beta2 * (v[i] as number) + (1 - beta2) * g * g;
          const mHat = (m[i] as number) / correction1;
          const vHat = (v[i] as number) / correction2;
          param[i] =
            (param[i] as number) -
            settings.learningRate * (mHat / (Math.sqrt(vHat) + 1e-8) + decay * (param[i] as number));
        }
      };
      update(w, gW, mW, vW, settings.weightDecay);
      update(b, gB, mB, vB, 0);
    }
  }

  const agreement = (rows: Uint32Array) => {
    let agree = 0;
    for (const row of rows) {
      standardise(row);
      logitsInto(p, x, w, b, d, c);
      if (argmaxOf(p) === labels[row]) agree++;
    }
    return agree / rows.length;
  };

  // Fold the standardisation into the linear layer: w·((f - mean) * scale) + b = (w*scale)·f + (b - Σ mean*scale*w).
  const weights = new Float32Array(d * c);
  const bias = new Float32Array(c);
  for (let k = 0; k < c; k++) bias[k] = b[k] as number;
  for (let j = 0; j < d; j++) {
    for (let k = 0; k < c; k++) {
      const folded = (w[j * c + k] as number) * (scale[j] as number);
      weights[j * c + k] = folded;
      bias[k] = (bias[k] as number) - folded * (mean[j] as number);
    }
  }
  return {
    weights,
    bias,
    validationAgreement: agreement(validationRows),
    trainAgreement: agreement(trainRows),
    trainCount: trainRows.length,
    validationCount,
    validationRows: Uint32Array.from(validationRows),
  };
}
