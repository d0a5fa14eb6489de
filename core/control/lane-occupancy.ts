/**
 * How busy a worker's inference lanes have been lately: the share of the trailing `horizonMs` of
 * wall time they spent running batches, from each batch's start and its wall time. The ramp
 * adjuster adds no ramp while it is high (ramp-adjuster.ts, `GROWTH_BUSY_LIMIT`): on lanes that
 * busy, what a ramp adds to every batch comes back many times over as waiting in the queue.
 *
 * Only batches that started within the horizon count, and the share is taken from the first of
 * them: time before it, when the lanes had nothing to run (a quiet spell, the pause between a
 * benchmark's slices), is not part of the load they are under now. Time between batches within
 * the stretch counts as idle; the newest batch always counts, whole.
 */
import { InputError } from '../errors';

/**
 * Shortest stretch a share is taken over, as a share of the horizon: a lone batch after a quiet
 * spell does not read as lanes busy all the time.
 */
const MIN_SPAN_SHARE = 0.1;

/** Trailing wall time the share is taken over (default): long enough to hold hundreds of batches. */
export const DEFAULT_OCCUPANCY_HORIZON_MS = 1000;

export class LaneOccupancy {
  private readonly starts: number[] = [];
  private readonly walls: number[] = [];
  private head = 0;

  constructor(
    private readonly lanes: number,
    private readonly horizonMs = DEFAULT_OCCUPANCY_HORIZON_MS,
  ) {
    if (!(Number.isInteger(lanes) && lanes > 0))
      throw new InputError(`lanes must be a positive integer, got ${lanes}`);
    if (!(horizonMs > 0)) throw new InputError(`horizonMs must be positive, got ${horizonMs}`);
  }

  /** Records one batch: when it started (ms, any clock shared by all batches) and how long it ran. */
  add(startedAtMs: number, wallMs: number): void {
    if (!(Number.isFinite(startedAtMs) && wallMs >= 0))
      throw new InputError(
        `a batch needs a finite start and a non-negative wall time, got ${startedAtMs}, ${wallMs}`,
      );
    this.starts.push(startedAtMs);
    this.walls.push(wallMs);
  }

  /**
   * Share of the stretch from the first batch within the horizon to the newest batch's end that
   * the lanes were busy, in [0, 1]; the stretch is at least a tenth of the horizon. Zero before
   * any batch.
   */
  get busyShare(): number {
    const count = this.starts.length;
    if (count === this.head) return 0;
    const newest = count - 1;
    const endMs = (this.starts[newest] as number) + (this.walls[newest] as number);
    const fromMs = endMs - this.horizonMs;
    while (this.head < newest && (this.starts[this.head] as number) < fromMs) this.head++;
    if (this.head > 4096) {
      this.starts.splice(0, this.head);
      this.walls.splice(0, this.head);
      this.head = 0;
    }
    let busy = 0;
    for (let i = this.head; i < this.starts.length; i++) busy += this.walls[i] as number;
    const sinceMs = Math.max(this.starts[this.head] as number, fromMs);
    const spanMs = Math.max(endMs - sinceMs, this.horizonMs * MIN_SPAN_SHARE);
    return spanMs > 0 ? Math.min(1, busy / (this.lanes * spanMs)) : 0;
  }
}
