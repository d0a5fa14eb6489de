/**
 * The simulated workload: arrival times (from a real trace window scaled to a load factor of the
 * plain model's measured capacity, or a Poisson process at that rate) and the stream input each
 * request carries. Inputs are served in stream order after the bootstrap part; a window longer
 * than one pass over the stream cycles through it again.
 */
import { costsAtBatch, type CostProfile } from '../control/costs';
import { InputError } from '../errors';
import { arrivalTimesMs, poissonArrivals, scaleToMeanRate } from '../workload/arrivals';
import { capacityRps, rateForLoad } from '../workload/load';
import { readTrace, traceWindow } from '../workload/trace';

export interface TraceSelection {
  readonly path: string;
  readonly startSecond: number;
  /** Seconds of trace to replay; default: as many as one pass over the served inputs needs. */
  readonly seconds?: number;
}

export interface WorkloadOptions {
  readonly load: number;
  readonly trace?: TraceSelection;
  readonly seed: number;
}

export interface Workload {
  readonly arrivalsMs: Float64Array;
  readonly targetRps: number;
  readonly capacityRps: number;
  /** Stream index served by request i. */
  readonly streamIndex: (request: number) => number;
  readonly description: string;
}

/** Builds arrivals for the inputs `firstServed .. streamCount-1`. */
export async function buildWorkload(
  profile: CostProfile,
  firstServed: number,
  streamCount: number,
  options: WorkloadOptions,
): Promise<Workload> {
  if (!(options.load > 0 && options.load <= 2)) {
    throw new InputError(
      `load must be in (0, 2] (a fraction of the plain model's capacity), got ${options.load}`,
    );
  }
  const served = streamCount - firstServed;
  const capacity = capacityRps(profile.batchSizes, (size) => costsAtBatch(profile, size).plainMs);
  const targetRps = rateForLoad(options.load, capacity);
  const streamIndex = (request: number) => firstServed + (request % served);
  if (!options.trace) {
    return {
      arrivalsMs: poissonArrivals(targetRps, { count: served }, options.seed),
      targetRps,
      capacityRps: capacity,
      streamIndex,
      description: `Poisson arrivals at ${targetRps.toFixed(1)} req/s (load ${options.load} of ${capacity.toFixed(1)} req/s)`,
    };
  }
  const counts = await readTrace(options.trace.path);
  const seconds = options.trace.seconds ?? Math.max(1, Math.ceil(served / targetRps));
  const window = traceWindow(counts, options.trace.startSecond, seconds, { skipZeroGaps: true });
  const scaled = scaleToMeanRate(window, targetRps, options.seed);
  const arrivalsMs = arrivalTimesMs(scaled, { seed: options.seed });
  return {
    arrivalsMs,
    targetRps,
    capacityRps: capacity,
    streamIndex,
    description: `trace ${options.trace.path} seconds ${options.trace.startSecond}+${seconds} scaled to ${targetRps.toFixed(1)} req/s (load ${options.load} of ${capacity.toFixed(1)} req/s)`,
  };
}
