/**
 * When the demo's requests arrive: a window of the shared Twitter trace, its shape kept and its
 * mean set to the demo's rate, so the local stack sees real bursts and lulls. Where the trace is
 * not beside the checkout the demo says so and uses Poisson arrivals at the same rate instead of
 * failing, since the point of the demo is the comparison, not the trace.
 */
import { arrivalTimesMs, poissonArrivals, scaleToMeanRate } from '../../core/workload/arrivals';
import { readTrace, traceWindow } from '../../core/workload/trace';
import { locateTrace, traceSearchDirs } from '../../core/workload/trace-location';

/** The day-two start the evaluation also uses: ordinary traffic, past the trace's first hours. */
export const DEMO_TRACE_START_SECOND = 86_400;

export interface DemoArrivals {
  readonly arrivalsMs: Float64Array;
  readonly description: string;
}

/** Arrival times (ms from the replay's start) for `seconds` of traffic at a mean of `rateRps`. */
export async function demoArrivals(seconds: number, rateRps: number, seed: number): Promise<DemoArrivals> {
  const path = locateTrace();
  if (path === undefined) {
    return {
      arrivalsMs: poissonArrivals(rateRps, { durationS: seconds }, seed),
      description: `Poisson arrivals at ${rateRps} req/s (the Twitter trace was not found in ${traceSearchDirs().join(', ')})`,
    };
  }
  const counts = await readTrace(path);
  const window = traceWindow(counts, DEMO_TRACE_START_SECOND, seconds, { skipZeroGaps: true });
  return {
    arrivalsMs: arrivalTimesMs(scaleToMeanRate(window, rateRps, seed), { seed }),
    description: `Twitter trace seconds ${DEMO_TRACE_START_SECOND}+${seconds}, scaled to a mean of ${rateRps} req/s`,
  };
}
