/**
 * Seeded synthetic observations and profiles with the shape real ones have: deeper ramps agree
 * with the final model more often, harder inputs less often, and a ramp's confidence rises with
 * its chance of agreeing. Tests and the tuner benchmark use them where a real recording is not
 * needed, so they exercise the control logic on realistic structure and stay reproducible.
 */
import { SeededRandom } from '../util/random';
import type { CostProfile } from './costs';
import type { ConfigCosts, ExitWindow } from './records';

/** Shape of a synthetic window. */
export interface SyntheticWindowOptions {
  readonly inputs: number;
  readonly ramps: number;
  readonly seed: number;
  /** Classes of the model; confidences lie in [1/classes, 1] (default 10). */
  readonly classes?: number;
  /** Skill of the shallowest and of the deepest ramp, in units of input hardness (defaults -0.5, 3). */
  readonly shallowSkill?: number;
  readonly deepSkill?: number;
  /** Mean hardness of input i (default 0 for every input); raise it to make inputs harder. */
  readonly hardnessAt?: (input: number) => number;
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/**
 * A window in which ramp r agrees on input i with probability sigmoid(2.5·z) for the latent
 * margin z = skill(r) − hardness(i) + noise, and reports a confidence that grows with the same
 * margin plus its own noise, so confidence is informative about agreement but not perfectly so.
 */
export function syntheticWindow(options: SyntheticWindowOptions): ExitWindow {
  const random = new SeededRandom(options.seed);
  const classes = options.classes ?? 10;
  const shallow = options.shallowSkill ?? -0.5;
  const deep = options.deepSkill ?? 3;
  const floor = 1 / classes;
  const confidence = Array.from({ length: options.ramps }, () => new Float32Array(options.inputs));
  const agrees = Array.from({ length: options.ramps }, () => new Uint8Array(options.inputs));
  for (let i = 0; i < options.inputs; i++) {
    const hardness = (options.hardnessAt?.(i) ?? 0) + random.normal();
    for (let r = 0; r < options.ramps; r++) {
      const skill = options.ramps === 1 ? deep : shallow + ((deep - shallow) * r) / (options.ramps - 1);
      const margin = skill - hardness + 0.6 * random.normal();
      (agrees[r] as Uint8Array)[i] = random.next() < sigmoid(2.5 * margin) ? 1 : 0;
      (confidence[r] as Float32Array)[i] = floor + (1 - floor) * sigmoid(2 * margin + 0.8 * random.normal());
    }
  }
  return { count: options.inputs, confidence, agrees };
}

/**
 * Costs of `ramps` evenly spaced ramps in a model of `plainMs`, whose ramps together cost
 * `rampShare` of the plain model: the shape of a profile in which the budget is just used up.
 */
export function syntheticCosts(ramps: number, plainMs = 10, rampShare = 0.02): ConfigCosts {
  const rampMs = new Array<number>(ramps).fill((rampShare * plainMs) / Math.max(1, ramps));
  const exitMs: number[] = [];
  let spent = 0;
  for (let r = 0; r < ramps; r++) {
    spent += rampMs[r] as number;
    exitMs.push((plainMs * (r + 1)) / (ramps + 1) + spent);
  }
  return { exitMs, finalMs: plainMs + spent, plainMs, rampMs };
}

/**
 * A profile of `candidates` evenly spaced positions over batch sizes 1..32, with per-input time
 * falling as batches grow (as on real accelerators) and each ramp costing `rampShare` of the
 * plain model.
 */
export function syntheticProfile(candidates: number, plainMs = 10, rampShare = 0.005): CostProfile {
  const batchSizes = [1, 2, 4, 8, 16, 32];
  const scale = batchSizes.map((size) => Math.pow(size, 0.7));
  return {
    batchSizes,
    referenceBatchSize: 8,
    plainMs: scale.map((s) => plainMs * s),
    candidates: Array.from({ length: candidates }, (_, c) => ({
      id: `c${c}`,
      backboneMs: scale.map((s) => (plainMs * s * (c + 1)) / (candidates + 1)),
      rampMs: scale.map((s) => rampShare * plainMs * s),
    })),
  };
}
