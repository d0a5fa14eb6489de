/**
 * Turning request rates into request arrival times for replays. Everything random here draws from
 * a SeededRandom, so a replay is the same on every machine for the same seed, and two policies or
 * two configurations can be compared on exactly the same arrivals.
 */
import { InputError } from '../errors';
import { SeededRandom } from '../util/random';
import { MAX_COUNT_PER_SECOND } from './trace';

/**
 * Rescales per-second counts so that their mean becomes `targetRps`, keeping the trace's shape
 * (its bursts and lulls) while setting its load. Counts must stay whole, so each scaled count is
 * rounded up with probability equal to its fractional part: the expected total is exactly
 * `targetRps × counts.length`, with no drift from always rounding one way.
 */
export function scaleToMeanRate(counts: ArrayLike<number>, targetRps: number, seed: number): Uint32Array {
  if (!Number.isFinite(targetRps) || targetRps <= 0) {
    throw new InputError(`target rate must be a positive number of requests per second, got ${targetRps}`);
  }
  if (counts.length === 0) throw new InputError('cannot scale an empty trace; give at least one second');
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i] as number;
  if (total === 0) {
    throw new InputError(
      'cannot scale a trace window with no requests to a mean rate; choose another window',
    );
  }
  const factor = (targetRps * counts.length) / total;
  const random = new SeededRandom(seed);
  const scaled = new Uint32Array(counts.length);
  for (let i = 0; i < counts.length; i++) {
    const exact = (counts[i] as number) * factor;
    const whole = Math.floor(exact);
    const count = whole + (random.next() < exact - whole ? 1 : 0);
    if (count > MAX_COUNT_PER_SECOND) {
      throw new InputError(
        `scaling to ${targetRps} requests/s makes second ${i} exceed ${MAX_COUNT_PER_SECOND}`,
      );
    }
    scaled[i] = count;
  }
  return scaled;
}

/**
 * How a second's requests are placed within it:
 * - `poisson`: each at an independent uniformly random instant, which is exactly a Poisson process
 *   conditioned on the second's count (bursty within the second);
 * - `uniform`: evenly spaced, 1/count s apart, from a random phase drawn per second (smooth).
 */
export type ArrivalSpacing = 'poisson' | 'uniform';

export interface ArrivalTimesOptions {
  readonly seed: number;
  /** @default 'poisson' */
  readonly spacing?: ArrivalSpacing;
  /** Time of the first second's start, in ms. @default 0 */
  readonly startMs?: number;
}

/**
 * Arrival times in ms, ascending, for per-second counts: second s's requests fall in
 * [startMs + 1000·s, startMs + 1000·(s + 1)). Sized for replay windows: a whole multi-week trace
 * would need gigabytes of times, so pick a window first.
 */
export function arrivalTimesMs(counts: ArrayLike<number>, options: ArrivalTimesOptions): Float64Array {
  const spacing = options.spacing ?? 'poisson';
  if (spacing !== 'poisson' && spacing !== 'uniform') {
    throw new InputError(`arrival spacing must be 'poisson' or 'uniform', got ${JSON.stringify(spacing)}`);
  }
  const startMs = options.startMs ?? 0;
  if (!Number.isFinite(startMs)) throw new InputError(`startMs must be a finite number, got ${startMs}`);
  let total = 0;
  for (let i = 0; i < counts.length; i++) {
    const count = counts[i] as number;
    if (!Number.isSafeInteger(count) || count < 0) {
      throw new InputError(`per-second counts must be non-negative integers, got ${count} at second ${i}`);
    }
    total += count;
  }
  const random = new SeededRandom(options.seed);
  const times = new Float64Array(total);
  let filled = 0;
  for (let second = 0; second < counts.length; second++) {
    const count = counts[second] as number;
    if (count === 0) continue;
    const secondStartMs = startMs + 1000 * second;
    const slot = times.subarray(filled, filled + count);
    if (spacing === 'poisson') {
      for (let i = 0; i < count; i++) slot[i] = secondStartMs + 1000 * random.next();
      slot.sort();
    } else {
      const phase = random.next();
      for (let i = 0; i < count; i++) slot[i] = secondStartMs + (1000 * (i + phase)) / count;
    }
    filled += count;
  }
  return times;
}

/** How long a Poisson arrival run lasts: for a duration, or until a number of requests. */
export type PoissonExtent = { readonly durationS: number } | { readonly count: number };

/**
 * Arrival times in ms of a Poisson process at `rateRps` starting at 0, for runs without a trace:
 * memoryless arrivals are the usual model of many independent clients.
 */
export function poissonArrivals(rateRps: number, extent: PoissonExtent, seed: number): Float64Array {
  if (!Number.isFinite(rateRps) || rateRps <= 0) {
    throw new InputError(`Poisson rate must be a positive number of requests per second, got ${rateRps}`);
  }
  const random = new SeededRandom(seed);
  const meanGapMs = 1000 / rateRps;
  const gapMs = (): number => -Math.log(1 - random.next()) * meanGapMs;
  if ('count' in extent) {
    if (!Number.isSafeInteger(extent.count) || extent.count < 0) {
      throw new InputError(`Poisson arrival count must be a non-negative integer, got ${extent.count}`);
    }
    const times = new Float64Array(extent.count);
    let nowMs = 0;
    for (let i = 0; i < extent.count; i++) times[i] = nowMs += gapMs();
    return times;
  }
  if (!Number.isFinite(extent.durationS) || extent.durationS <= 0) {
    throw new InputError(
      `Poisson run duration must be a positive number of seconds, got ${extent.durationS}`,
    );
  }
  const endMs = extent.durationS * 1000;
  const times: number[] = [];
  for (let nowMs = gapMs(); nowMs < endMs; nowMs += gapMs()) times.push(nowMs);
  return Float64Array.from(times);
}
