/**
 * Locates the shared arrival-rate traces for tests. They live beside the checkout
 * (`../shared/data/traces`) on every developer and CI machine and are never copied into the
 * repository.
 */
import { locateTrace, traceSearchDirs, TWITTER_TRACE_FILE } from '../../core/workload/trace-location';

/** Path of a shared trace file; throws naming the places searched when it is absent. */
export function sharedTrace(file = TWITTER_TRACE_FILE): string {
  const path = locateTrace(file);
  if (path === undefined) {
    throw new Error(`trace ${file} not found in ${traceSearchDirs().join(', ')}; set APPARATE_TRACES_DIR`);
  }
  return path;
}
