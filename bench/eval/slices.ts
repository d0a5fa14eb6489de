/**
 * Policies served in turns, slice by slice, over the same planned requests. A repeat that serves
 * each policy for its whole run in a row compares runs minutes apart, and on a shared machine the
 * plain model's own median moved up to elevenfold between such runs (docs/evaluation.md): a
 * policy's win then said more about the host's speed in its minute than about the policy. Cut
 * into slices of a few seconds, with every policy serving slice k before any serves slice k + 1,
 * a slow or fast spell of the host falls on all of them alike; the order rotates per slice, so no
 * policy always runs first after the others' idle time.
 */
import type { PlannedRequest } from './workload';
import type { ServingRun, ServingRunResult } from './worker-run';

/** Planned requests `from` to `to` (exclusive), whose slice starts at `startMs` of the plan. */
export interface Slice {
  readonly from: number;
  readonly to: number;
  readonly startMs: number;
}

/**
 * The planned requests (in arrival order) cut at every `sliceMs` of the plan; slices without a
 * request are left out, and a non-positive `sliceMs` gives one slice over everything.
 */
export function sliceBounds(planned: readonly PlannedRequest[], sliceMs: number): Slice[] {
  const slices: Slice[] = [];
  let from = 0;
  while (from < planned.length) {
    const index = sliceMs > 0 ? Math.floor((planned[from] as PlannedRequest).atMs / sliceMs) : 0;
    const endMs = sliceMs > 0 ? (index + 1) * sliceMs : Number.POSITIVE_INFINITY;
    let to = from;
    while (to < planned.length && (planned[to] as PlannedRequest).atMs < endMs) to++;
    slices.push({ from, to, startMs: sliceMs > 0 ? index * sliceMs : 0 });
    from = to;
  }
  return slices;
}

/** Which run serves `turn`-th in slice `k`: the order of the runs rotated by k. */
export function turnOrder(runs: number, k: number): number[] {
  return Array.from({ length: runs }, (_, turn) => (turn + k) % runs);
}

/** Serves every slice on every run in turn, then stops them; results in the runs' order. */
export async function serveInTurns(
  runs: readonly ServingRun[],
  slices: readonly Slice[],
): Promise<ServingRunResult[]> {
  for (const [k, slice] of slices.entries()) {
    for (const index of turnOrder(runs.length, k)) {
      await (runs[index] as ServingRun).serve(slice.from, slice.to, slice.startMs);
    }
  }
  const results: ServingRunResult[] = [];
  for (const run of runs) results.push(await run.finish());
  return results;
}
