/**
 * How busy a worker's inference lanes have been lately: the share of the trailing `horizonMs` of
 * wall time they spent running batches, from each batch's start and its wall time. The ramp
 * adjuster adds no ramp while it is high (ramp-adjuster.ts, `GROWTH_BUSY_LIMIT`): on lanes that
 * busy, what a ramp adds to every batch comes back many times over as waiting in the queue.
 *
 * Only batches that started within the horizon count, so time the worker spent idle (no requests,
 * or between a benchmark's slices) ages out instead of being averaged in forever; a batch still
 * running past the newest start counts whole.
 */
import { InputError } from '../errors';

/** Trailing wall time the share is taken over (default): long enough to hold hundreds of batches. */
export const DEFAULT_OCCUPANCY_HORIZON_MS = 1000;

export class LaneOccupancy {
  private readonly starts: number[] = [];
  private readonly walls: number[] = [];
  private head = 0;
  private firstStartMs = Number.NaN;

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
    if (Number.isNaN(this.firstStartMs)) this.firstStartMs = startedAtMs;
    this.starts.push(startedAtMs);
    this.walls.push(wallMs);
  }

  /**
   * Share of the horizon before the newest batch's end that the lanes were busy, in [0, 1]
   * (until the lanes have served a whole horizon, of the time since their first batch); zero
   * before any batch.
   */
  get busyShare(): number {
    const count = this.starts.length;
    if (count === this.head) return 0;
    const newest = count - 1;
    const endMs = (this.starts[newest] as number) + (this.walls[newest] as number);
    const fromMs = endMs - this.horizonMs;
    while (this.head < count && (this.starts[this.head] as number) < fromMs) this.head++;
    if (this.head > 4096) {
      this.starts.splice(0, this.head);
      this.walls.splice(0, this.head);
      this.head = 0;
    }
    let busy = 0;
    for (let i = this.head; i < this.starts.length; i++) busy += this.walls[i] as number;
    const spanMs = Math.min(this.horizonMs, endMs - this.firstStartMs);
    return spanMs > 0 ? Math.min(1, busy / (this.lanes * spanMs)) : 0;
  }
}
