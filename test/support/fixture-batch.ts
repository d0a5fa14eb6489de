/**
 * A fixture model with the model feeds of its first `rows` serving samples (repeated where the
 * stream is shorter), for tests and the scripts they run in processes of their own.
 */
import { createBatchEncoder } from '../../core/inference/batch-encoding';
import { sampleAt } from '../../core/data/dataset';
import { loadFixtureModel, loadModelData } from '../../core/zoo/fixtures';

export async function fixtureBatch(name: string, rows: number) {
  const fixture = await loadFixtureModel(name);
  const stream = await loadModelData(fixture, 'serving');
  const feeds = createBatchEncoder(fixture.spec).encode(
    Array.from({ length: rows }, (_, i) => sampleAt(stream, i % stream.count)),
  );
  return { fixture, feeds };
}
