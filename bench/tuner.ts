/**
 * Threshold-tuning speed: one full tune from zero over a window of 512 inputs and 8 ramps
 * (target: under 5 ms). The windows are seeded synthetic ones with real structure (deeper ramps
 * agree more, confidence tracks agreement), so the tuner takes as many rounds as on live data.
 * As the in-run baseline, one evaluation of the same window is timed alongside, and the ratio
 * says how many evaluations a tune is worth, a figure that travels between machines.
 */
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { evaluateConfig } from '../core/control/exit-rule';
import { syntheticCosts, syntheticWindow } from '../core/control/synthetic';
import { tuneThresholds } from '../core/control/threshold-tuner';
import { InputError } from '../core/errors';
import { median, quantile } from '../core/util/stats';
import type { Benchmark } from './run';

const INPUTS = 512;
const RAMPS = 8;
const TARGET_MS = 5;
const WINDOWS = 8;
const WARMUP = 50;
const DEFAULT_REPEATS = 200;
const DEFAULT_SEED = 20260101;

function readOption(args: readonly string[], name: string, fallback: number): number {
  const arg = args.find((a) => a.startsWith(`--${name}=`));
  if (arg === undefined) return fallback;
  const value = Number(arg.slice(name.length + 3));
  if (!Number.isInteger(value) || value <= 0)
    throw new InputError(`--${name} must be a positive integer, got ${arg}`);
  return value;
}

export const tunerBenchmark: Benchmark = {
  name: 'tuner',
  summary: 'one threshold tune, 512 inputs x 8 ramps',
  usage: 'usage: npm run bench -- tuner [--repeats 50] [--seed N]',
  // Tuning is synchronous by design; the promise only satisfies the benchmark interface.
  run(args: readonly string[]): Promise<unknown> {
    const repeats = Math.max(50, readOption(args, 'repeats', DEFAULT_REPEATS));
    const seed = readOption(args, 'seed', DEFAULT_SEED);
    const costs = syntheticCosts(RAMPS);
    const windows = Array.from({ length: WINDOWS }, (_, k) =>
      syntheticWindow({ inputs: INPUTS, ramps: RAMPS, seed: seed + k }),
    );
    const zero = new Array<number>(RAMPS).fill(0);
    for (let k = 0; k < WARMUP; k++) {
      const window = windows[k % WINDOWS] as (typeof windows)[number];
      tuneThresholds(window, costs);
      evaluateConfig(window, zero, costs);
    }
    const tuneMs: number[] = [];
    const evaluateMs: number[] = [];
    const rounds: number[] = [];
    const savings: number[] = [];
    for (let k = 0; k < repeats; k++) {
      const window = windows[k % WINDOWS] as (typeof windows)[number];
      let began = performance.now();
      const result = tuneThresholds(window, costs);
      tuneMs.push(performance.now() - began);
      began = performance.now();
      evaluateConfig(window, result.thresholds, costs);
      evaluateMs.push(performance.now() - began);
      rounds.push(result.rounds);
      savings.push(result.evaluation.savingsFraction);
    }
    const row = {
      inputs: INPUTS,
      ramps: RAMPS,
      repeats,
      tuneMsMedian: median(tuneMs),
      tuneMsP95: quantile(tuneMs, 0.95),
      roundsMedian: median(rounds),
      evaluateMsMedian: median(evaluateMs),
      tuneToEvaluateRatio: median(tuneMs) / median(evaluateMs),
      savingsMedian: median(savings),
      targetMs: TARGET_MS,
      meetsTarget: median(tuneMs) < TARGET_MS,
    };
    process.stdout.write(
      `${'window'.padEnd(12)}${'median ms'.padStart(11)}${'p95 ms'.padStart(9)}${'rounds'.padStart(8)}${'x eval'.padStart(8)}${'target'.padStart(9)}\n`,
    );
    process.stdout.write(
      `${`${INPUTS}x${RAMPS}`.padEnd(12)}${row.tuneMsMedian.toFixed(3).padStart(11)}${row.tuneMsP95.toFixed(3).padStart(9)}${String(row.roundsMedian).padStart(8)}${row.tuneToEvaluateRatio.toFixed(0).padStart(8)}${`< ${TARGET_MS} ms`.padStart(9)} ${row.meetsTarget ? 'ok' : 'MISSED'}\n`,
    );
    return Promise.resolve({
      benchmark: 'tuner',
      target: `one tune over ${INPUTS} inputs x ${RAMPS} ramps < ${TARGET_MS} ms`,
      machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version },
      measuredAt: new Date().toISOString(),
      seed,
      rows: [row],
    });
  },
};
