/**
 * Which of a batch's ramp outputs the inference thread posts to the main thread mid-run, and which
 * it holds back for the batch's final message.
 *
 * A ramp's probabilities matter mid-run only when they release an answer; otherwise they are
 * evidence (confidence and agreement for the controller and the exit log), which the main thread
 * needs only once the batch is over. Posting each one on its own costs the lane about 15 µs and
 * the main thread a message's dispatch, per ramp per batch: at batch 2 on mnist-resnet three such
 * posts were a third of what three exits added to the lane's run (docs/benchmarks.md, "Ramp
 * outputs that release nothing"). So the main thread sends the thresholds it will apply with the
 * batch, and the lane applies the same rule (`exitsAt` on each row's top probability, the first
 * ramp that passes releasing the row) to decide: a ramp output that releases at least one row not
 * yet released goes now, the rest travel with the final logits. The main thread still applies the
 * rule itself to every output, so it releases exactly what it would have; the gate only decides
 * when the outputs that release nothing arrive.
 */
import { exitsAt } from '../../core/control/exit-rule';
import { argmax } from '../../core/util/stats';

export class ReleaseGate {
  private readonly released: Uint8Array;

  /**
   * `thresholds` are the batch's, one per active ramp in config order (a ramp without one never
   * releases, as on the main thread); without thresholds every output is posted at once.
   */
  constructor(
    private readonly thresholds: readonly number[] | undefined,
    private readonly rows: number,
  ) {
    this.released = new Uint8Array(rows);
  }

  /**
   * Whether ramp `rampIndex`'s probabilities for the real rows (row-major [rows, classes]) release
   * a row no earlier ramp of the batch released. Call once per ramp, shallow to deep: the rows it
   * releases count as released for the ramps after it.
   */
  releasesAny(rampIndex: number, probs: Float32Array): boolean {
    if (this.thresholds === undefined) return true;
    const threshold = this.thresholds[rampIndex] ?? 0;
    const width = probs.length / this.rows;
    let any = false;
    for (let i = 0; i < this.rows; i++) {
      if (this.released[i] === 1) continue;
      const top = probs[i * width + argmax(probs, i * width, width)] as number;
      if (!exitsAt(top, threshold)) continue;
      this.released[i] = 1;
      any = true;
    }
    return any;
  }
}
