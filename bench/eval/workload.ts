/**
 * The requests of one serving run: arrival times from a window of the Twitter trace scaled so its
 * mean is a fraction of the capacity measured in the same run, each carrying the next input of
 * the fixture's serving stream after the bootstrap part (cycling), exactly as the simulator
 * orders them. Each repeat replays the next window of the trace with its own seed, so repeats
 * differ in their bursts as well as in the machine's noise; the policies of one repeat share it.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { RawSample } from '../../core/inference/batch-encoding';
import { sampleAt, type DataSplit } from '../../core/data/dataset';
import { InputError } from '../../core/errors';
import { applyDrift } from '../../core/simulator/drift';
import { arrivalTimesMs, scaleToMeanRate } from '../../core/workload/arrivals';
import { rateForLoad } from '../../core/workload/load';
import { readTrace, traceWindow } from '../../core/workload/trace';
import { SeededRandom } from '../../core/util/random';

const TRACE_FILE = 'twitter-2021-08.tbz2';

/** The shared trace: `$APPARATE_TRACES_DIR`, then `../shared/data/traces` beside the checkout. */
export function defaultTracePath(): string {
  const dirs = [
    process.env.APPARATE_TRACES_DIR,
    resolve(__dirname, '..', '..', '..', 'shared', 'data', 'traces'),
    '/work/shared/data/traces',
  ].filter((dir): dir is string => typeof dir === 'string');
  for (const dir of dirs) {
    const path = join(dir, TRACE_FILE);
    if (existsSync(path)) return path;
  }
  throw new InputError(
    `trace ${TRACE_FILE} not found in ${dirs.join(', ')}; set APPARATE_TRACES_DIR or pass --trace <file>`,
  );
}

/** A request input as the queue carries it: grey values for images, the text for text models. */
export type RequestInput = number[] | string;

/** One request of a run: when it is due (ms from the run's start), what it carries. */
export interface PlannedRequest {
  readonly atMs: number;
  readonly streamIndex: number;
  readonly input: RequestInput;
  /** Whether the input was made noisy (drift runs). */
  readonly noisy: boolean;
}

/** Converts a stream sample to the request body's input. */
export function requestInput(sample: RawSample): RequestInput {
  return sample.kind === 'image' ? Array.from(sample.pixels) : sample.text;
}

export interface ArrivalPlan {
  readonly tracePath: string;
  readonly traceStartSecond: number;
  readonly seconds: number;
  readonly load: number;
  readonly capacityRps: number;
  readonly seed: number;
}

/** Arrival times (ms from 0) of one run: the trace window scaled to `load × capacity`. */
export async function plannedArrivals(plan: ArrivalPlan): Promise<{ arrivalsMs: Float64Array; rps: number }> {
  const counts = await readTrace(plan.tracePath);
  const window = traceWindow(counts, plan.traceStartSecond, plan.seconds, { skipZeroGaps: true });
  const rps = rateForLoad(plan.load, plan.capacityRps);
  const scaled = scaleToMeanRate(window, rps, plan.seed);
  return { arrivalsMs: arrivalTimesMs(scaled, { seed: plan.seed }), rps };
}

/**
 * How much of the stream a drift run makes noisy at a point of the run (0..1): clean for the
 * first 40%, then a share of noisy inputs rising linearly to all of them at 70%, noisy after.
 * A gradual rise, unlike the simulator's step at half-time, shows how quickly each policy notices.
 */
export function noisyShareAt(progress: number): number {
  if (progress < 0.4) return 0;
  if (progress >= 0.7) return 1;
  return (progress - 0.4) / 0.3;
}

export interface RequestPlanOptions {
  /** Serve with the rising noise of `noisyShareAt`, drawn per request from `seed`. */
  readonly drift?: boolean;
  readonly seed: number;
}

/**
 * Pairs each arrival with the next served input (stream indices from `bootstrapCount`, cycling).
 * With drift, request i is noisy with probability `noisyShareAt(i / n)`; its noise comes from the
 * simulator's `applyDrift` (Gaussian pixel noise, or dropped and swapped words), seeded per request.
 */
export function planRequests(
  arrivalsMs: ArrayLike<number>,
  stream: DataSplit,
  bootstrapCount: number,
  options: RequestPlanOptions,
): PlannedRequest[] {
  const served = stream.count - bootstrapCount;
  if (served <= 0)
    throw new InputError(`the stream has no inputs after its ${bootstrapCount} bootstrap ones`);
  const n = arrivalsMs.length;
  const random = new SeededRandom(options.seed);
  return Array.from({ length: n }, (_, i) => {
    const streamIndex = bootstrapCount + (i % served);
    const sample = sampleAt(stream, streamIndex);
    const noisy = options.drift === true && random.next() < noisyShareAt(i / n);
    // applyDrift makes an input noisy when its index lies in the second half of `count`.
    const shown = noisy ? applyDrift(sample, n + i, 2 * n, 'noise', options.seed) : sample;
    return { atMs: arrivalsMs[i] as number, streamIndex, input: requestInput(shown), noisy };
  });
}
