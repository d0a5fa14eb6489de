/**
 * Raw MNIST pixels as "pooled activations" with the true digits as labels: real data on which a
 * linear classifier is known to do well, for tests of ramp training that need no model.
 */
import { join } from 'node:path';
import { loadSplit } from '../../core/data/dataset';
import type { RampTrainingData } from '../../core/ramps/train-ramp';
import { ZOO_DATA_DIR } from '../../core/zoo/fixtures';

/** The first `count` serving digits, pixels scaled to [0, 1]. */
export async function mnistPixelData(count: number): Promise<RampTrainingData> {
  const split = await loadSplit(join(ZOO_DATA_DIR, 'mnist'), 'serving');
  if (split.kind !== 'image') throw new Error('mnist must be an image data set');
  const size = split.height * split.width;
  const features = Float32Array.from(split.pixels.subarray(0, count * size), (v) => v / 255);
  return { features, labels: split.labels.subarray(0, count), count, featureSize: size, classes: 10 };
}
