/**
 * How busy a worker's inference lanes have been lately: the share of the recent serving time they
 * spent running batches, from each batch's start and its wall time. The ramp adjuster adds no ramp
 * while it is high (ramp-adjuster.ts, `GROWTH_BUSY_LIMIT`): on lanes that busy, what a ramp adds
 * to every batch comes back many times over as waiting in the queue.
 *
 * Arrivals come in bursts, so over one second the share of mnist-resnet's lane at load 0.7 read
 * anywhere from 0.66 to 0.99; the share is taken over a longer horizon (ten seconds), which is what
 * a ramp added now will serve under. Only batches that started within it count, and a pause
 * between two batches longer than `PAUSE_MS` (no requests at all: a quiet spell, the break between
 * a benchmark's slices) is left out rather than counted as idle time: it is not load the lanes are
 * under while requests flow. Shorter gaps count as idle. The newest batch always counts, whole.
 */
import { InputError } from '../errors';

/** Trailing time the share is taken over (default), ms. */
export const DEFAULT_OCCUPANCY_HORIZON_MS = 10_000;

/** A gap between batch starts longer than this, less the batch before it, is a pause, not idleness. */
export const PAUSE_MS = 500;

export class LaneOccupancy {
  private readonly starts: number[] = [];
  private readonly walls: number[] = [];
  /** pauses[i]: the part of the gap after batch i that is a pause (0 for short gaps and the newest). */
  private readonly pauses: number[] = [];
  private head = 0;
  /** Sums over the batches from `head` on, kept as batches come and go so a reading costs no loop. */
  private busyMs = 0;
  private pausedMs = 0;

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
    const previous = this.starts.length - 1;
    if (previous >= this.head) {
      const gap = startedAtMs - (this.starts[previous] as number);
      const pause = gap > PAUSE_MS ? Math.max(0, gap - (this.walls[previous] as number)) : 0;
      this.pauses[previous] = pause;
      this.pausedMs += pause;
    }
    this.starts.push(startedAtMs);
    this.walls.push(wallMs);
    this.pauses.push(0);
    this.busyMs += wallMs;
    const endMs = startedAtMs + wallMs;
    while (this.head < previous + 1 && (this.starts[this.head] as number) < endMs - this.horizonMs) {
      this.busyMs -= this.walls[this.head] as number;
      this.pausedMs -= this.pauses[this.head] as number;
      this.head++;
    }
    if (this.head > 4096) {
      this.starts.splice(0, this.head);
      this.walls.splice(0, this.head);
      this.pauses.splice(0, this.head);
      this.head = 0;
    }
  }

  /**
   * Share of the serving time from the first batch within the horizon to the newest batch's end,
   * pauses left out, that the lanes were busy, in [0, 1]. Zero before any batch.
   */
  get busyShare(): number {
    const newest = this.starts.length - 1;
    if (newest < this.head) return 0;
    const endMs = (this.starts[newest] as number) + (this.walls[newest] as number);
    const spanMs = endMs - (this.starts[this.head] as number) - this.pausedMs;
    return spanMs > 0 ? Math.min(1, this.busyMs / (this.lanes * spanMs)) : 1;
  }
}
