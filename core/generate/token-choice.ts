/**
 * Reading one position's logits: the top token and its softmax probability (the confidence the
 * exit rule compares with a threshold), and sampling at a temperature. Agreement is always judged
 * on the top token, whatever was sampled, so feedback does not depend on the sampling noise.
 */
import { argmax } from '../util/stats';
import type { SeededRandom } from '../util/random';

export interface TopToken {
  readonly token: number;
  /** Softmax probability of `token`: the exit rule's confidence. */
  readonly confidence: number;
}

/** The top token of `width` logits at `offset`, with its probability. */
export function topToken(logits: Float32Array, offset: number, width: number): TopToken {
  const token = argmax(logits, offset, width);
  const max = logits[offset + token] as number;
  let sum = 0;
  for (let i = 0; i < width; i++) sum += Math.exp((logits[offset + i] as number) - max);
  return { token, confidence: 1 / sum };
}

/** Draws a token from softmax(logits / temperature); temperature 0 means the top token. */
export function sampleToken(
  logits: Float32Array,
  offset: number,
  width: number,
  temperature: number,
  random: SeededRandom,
): number {
  if (temperature <= 0) return argmax(logits, offset, width);
  const max = logits[offset + argmax(logits, offset, width)] as number;
  const weights = new Float64Array(width);
  let sum = 0;
  for (let i = 0; i < width; i++) {
    const weight = Math.exp(((logits[offset + i] as number) - max) / temperature);
    weights[i] = weight;
    sum += weight;
  }
  let draw = random.next() * sum;
  for (let i = 0; i < width; i++) {
    draw -= weights[i] as number;
    if (draw < 0) return i;
  }
  return width - 1;
}
