/**
 * Drift for what-if runs: the second half of a stream is served with inputs made harder, seeded
 * per input so every run and every policy sees the same drifted stream. Images get Gaussian pixel
 * noise; texts lose or swap words. The full model's answer on the drifted input stays the
 * reference, exactly as it would in production.
 */
import type { RawSample } from '../inference/batch-encoding';
import { SeededRandom } from '../util/random';

export type DriftKind = 'none' | 'noise';

/** Standard deviation of the added pixel noise, in grey levels (0-255). */
export const IMAGE_NOISE_SIGMA = 25;
/** Probability that a word is dropped, and that a kept word is swapped with its successor. */
export const TEXT_DROP_PROBABILITY = 0.25;
export const TEXT_SWAP_PROBABILITY = 0.15;

/** The sample as served under the drift: unchanged in the first half of the stream. */
export function applyDrift(
  sample: RawSample,
  index: number,
  count: number,
  drift: DriftKind,
  seed: number,
): RawSample {
  if (drift === 'none' || index < Math.floor(count / 2)) return sample;
  const random = new SeededRandom((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  if (sample.kind === 'image') {
    const pixels = new Uint8Array(sample.pixels.length);
    for (let i = 0; i < pixels.length; i++) {
      const noisy = (sample.pixels[i] as number) + random.normal() * IMAGE_NOISE_SIGMA;
      pixels[i] = Math.max(0, Math.min(255, Math.round(noisy)));
    }
    return { kind: 'image', pixels };
  }
  const words = sample.text.split(/(\s+)/).filter((w) => w.trim() !== '');
  const kept = words.filter(() => random.next() >= TEXT_DROP_PROBABILITY);
  for (let i = 0; i + 1 < kept.length; i++) {
    if (random.next() < TEXT_SWAP_PROBABILITY) {
      const tmp = kept[i] as string;
      kept[i] = kept[i + 1] as string;
      kept[i + 1] = tmp;
    }
  }
  return { kind: 'text', text: kept.join(' ') };
}
