/**
 * Seeded window builders shared by the control tests: arbitrary windows for property tests and
 * a cost model whose exits get later with depth, as in every real profile.
 */
import type { ConfigCosts, ExitWindow } from '../../core/control/records';
import { SeededRandom } from '../../core/util/random';

/** A window with unstructured confidences and agreement at `agreeRate`, for properties that must hold on any data. */
export function randomWindow(seed: number, count: number, ramps: number, agreeRate = 0.8): ExitWindow {
  const random = new SeededRandom(seed);
  const confidence = Array.from({ length: ramps }, () => new Float32Array(count));
  const agrees = Array.from({ length: ramps }, () => new Uint8Array(count));
  for (let r = 0; r < ramps; r++) {
    for (let i = 0; i < count; i++) {
      const high = random.next() < agreeRate;
      (agrees[r] as Uint8Array)[i] = high ? 1 : 0;
      // Agreeing answers lean confident, wrong ones less so, with overlap.
      (confidence[r] as Float32Array)[i] = high
        ? 0.3 + 0.7 * Math.sqrt(random.next())
        : 0.1 + 0.8 * random.next();
    }
  }
  return { count, confidence, agrees };
}

/** Costs of `ramps` ramps in a 10 ms model: exit r at (r + 1) ms plus ramp costs of 0.05 ms each. */
export function linearCosts(ramps: number): ConfigCosts {
  const rampMs = new Array<number>(ramps).fill(0.05);
  const exitMs = rampMs.map((_, r) => r + 1 + 0.05 * (r + 1));
  return { exitMs, finalMs: 10 + 0.05 * ramps, plainMs: 10, rampMs };
}
