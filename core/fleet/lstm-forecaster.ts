/**
 * InfAdapter's forecaster: one LSTM layer (25 units) over the last ten per-interval peaks and a
 * dense output, trained by `zoo/recipes/forecast_lstm.py` on the Twitter trace's first 14 days.
 * The forward pass is small enough (about 3,000 weights, ten steps) to run here in plain
 * TypeScript, which keeps planning free of sessions and threads; the weights file is validated.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { ArtifactError, describeIssues } from '../errors';
import { ZOO_DIR } from '../zoo/fixtures';
import type { Forecaster } from './forecast';

export const LSTM_WEIGHTS_FILE = join(ZOO_DIR, 'forecaster', 'lstm.json');

const matrix = z.array(z.array(z.number()));
export const lstmWeightsSchema = z.object({
  kind: z.literal('lstm'),
  units: z.number().int().positive(),
  lookback: z.number().int().positive(),
  inputScale: z.number().positive(),
  weightIh: matrix,
  weightHh: matrix,
  biasIh: z.array(z.number()),
  biasHh: z.array(z.number()),
  denseWeight: z.array(z.number()),
  denseBias: z.number(),
});
export type LstmWeights = z.infer<typeof lstmWeightsSchema>;

/** Reads and checks the committed weights (shapes included). */
export async function readLstmWeights(file = LSTM_WEIGHTS_FILE): Promise<LstmWeights> {
  const parsed = lstmWeightsSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
  if (!parsed.success)
    throw new ArtifactError(`invalid LSTM weights in ${file}: ${describeIssues(parsed.error.issues)}`);
  const w = parsed.data;
  const gates = 4 * w.units;
  const ok =
    w.weightIh.length === gates &&
    w.weightIh.every((row) => row.length === 1) &&
    w.weightHh.length === gates &&
    w.weightHh.every((row) => row.length === w.units) &&
    w.biasIh.length === gates &&
    w.biasHh.length === gates &&
    w.denseWeight.length === w.units;
  if (!ok)
    throw new ArtifactError(
      `LSTM weights in ${file} do not have the shapes of ${w.units} units and one input`,
    );
  return w;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** The forecaster over given weights; with fewer peaks than its look-back it pads with the oldest. */
export function lstmForecaster(w: LstmWeights): Forecaster {
  const H = w.units;
  const bias = w.biasIh.map((b, k) => b + (w.biasHh[k] as number));
  return {
    name: 'lstm',
    predict(peaks) {
      if (peaks.length === 0) return 0;
      const recent = peaks.slice(-w.lookback);
      while (recent.length < w.lookback) recent.unshift(recent[0] as number);
      let h = new Float64Array(H);
      let c = new Float64Array(H);
      const z = new Float64Array(4 * H);
      for (const peak of recent) {
        const x = peak / w.inputScale;
        for (let k = 0; k < 4 * H; k++) {
          let sum = (bias[k] as number) + ((w.weightIh[k] as number[])[0] as number) * x;
          const row = w.weightHh[k] as number[];
          for (let j = 0; j < H; j++) sum += (row[j] as number) * (h[j] as number);
          z[k] = sum;
        }
        const nextH = new Float64Array(H);
        const nextC = new Float64Array(H);
        for (let j = 0; j < H; j++) {
          const i = sigmoid(z[j] as number);
          const f = sigmoid(z[H + j] as number);
          const g = Math.tanh(z[2 * H + j] as number);
          const o = sigmoid(z[3 * H + j] as number);
          nextC[j] = f * (c[j] as number) + i * g;
          nextH[j] = o * Math.tanh(nextC[j] as number);
        }
        h = nextH;
        c = nextC;
      }
      let out = w.denseBias;
      for (let j = 0; j < H; j++) out += (w.denseWeight[j] as number) * (h[j] as number);
      return Math.max(0, out * w.inputScale);
    },
  };
}
