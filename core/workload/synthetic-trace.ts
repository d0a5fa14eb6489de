/**
 * A synthetic day of arrivals, for replays that must run where the shared Twitter trace is absent
 * (a clean clone, CI): the shared traces are never copied into the repository
 * (`../shared/data/traces/README.md`), so tools that replay a day fall back to this one and say so.
 * It has the features a fleet replay needs and nothing taken from the real trace: a daily cycle
 * (quietest at midnight, busiest at noon), a slower drift between days, minute-scale swings, and
 * Poisson-like noise per second, all from a seeded generator, so every run is the same.
 */
import { InputError } from '../errors';
import { SeededRandom } from '../util/random';

export interface SyntheticTraceOptions {
  /** Whole days of seconds, 1 to 61. @default 2 */
  readonly days?: number;
  /** Mean requests per second over a day. @default 64 */
  readonly meanRps?: number;
  /** The daily cycle's depth: noon's rate is (1 + depth) × the mean, midnight's (1 − depth) ×. @default 0.6 */
  readonly depth?: number;
  /** @default 2021 */
  readonly seed?: number;
}

/** A short description for reports: where the replayed counts came from. */
export const SYNTHETIC_TRACE_NAME =
  'the synthetic trace (daily cycle, minute swings, per-second noise; seed 2021)';

const DAY = 86_400;

/** Per-second counts of the synthetic trace. */
export function syntheticTrace(options: SyntheticTraceOptions = {}): Uint32Array {
  const days = options.days ?? 2;
  const mean = options.meanRps ?? 64;
  const depth = options.depth ?? 0.6;
  if (!(Number.isInteger(days) && days >= 1 && days <= 61)) {
    throw new InputError(`synthetic trace days must be a whole number from 1 to 61, got ${days}`);
  }
  if (!(mean > 0 && mean <= 100_000)) {
    throw new InputError(`synthetic trace meanRps must be above 0 and at most 100000, got ${mean}`);
  }
  if (!(depth >= 0 && depth < 1))
    throw new InputError(`synthetic trace depth must be in [0, 1), got ${depth}`);
  const random = new SeededRandom(options.seed ?? 2021);
  const counts = new Uint32Array(days * DAY);
  // Minute-scale swings: a random walk, pulled back to 1, one step a minute.
  let swing = 1;
  for (let second = 0; second < counts.length; second++) {
    if (second % 60 === 0)
      swing = Math.min(1.4, Math.max(0.7, swing + 0.3 * (1 - swing) + 0.05 * random.normal()));
    const day = Math.floor(second / DAY);
    const cycle = 1 - depth * Math.cos((2 * Math.PI * (second % DAY)) / DAY);
    const drift = 1 + 0.1 * Math.sin(day + 1);
    const rate = mean * cycle * drift * swing;
    // Poisson-like: the normal approximation, never below zero.
    counts[second] = Math.max(0, Math.round(rate + Math.sqrt(rate) * random.normal()));
  }
  return counts;
}
