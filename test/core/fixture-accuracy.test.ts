import { openSession } from '../../core/inference/onnx-session';
import { listFixtureModels, loadModelData } from '../../core/zoo/fixtures';
import { accuracyOf, measureStream } from '../../core/zoo/measure';

describe('fixture models on onnxruntime-node', () => {
  it.each([
    'mnist-resnet',
    'mnist-resnet-medium',
    'mnist-resnet-small',
    'spam-bert',
    'spam-bert-medium',
    'spam-bert-small',
  ])('%s reproduces the serving accuracy its recipe recorded, within 0.1 points', async (name) => {
    // Given the committed model and its whole serving stream
    const model = (await listFixtureModels()).find((m) => m.spec.name === name);
    if (!model) throw new Error(`fixture ${name} is missing`);
    const split = await loadModelData(model, 'serving');
    const session = await openSession(model.onnxPath);
    try {
      // When every serving sample runs through onnxruntime-node
      const { predictions } = await measureStream(model.spec, session, split, {
        batchSize: 32,
        warmupRuns: 0,
      });
      const accuracy = accuracyOf(predictions, split.labels);

      // Then the accuracy matches the recipe's figure and clears the fixture's floor
      expect(predictions.length).toBe(model.spec.servingSamples);
      expect(Math.abs(accuracy - (model.spec.servingAccuracy ?? -1))).toBeLessThanOrEqual(0.001);
      expect(accuracy).toBeGreaterThanOrEqual(name.startsWith('mnist-resnet') ? 0.97 : 0.95);
    } finally {
      await session.release();
    }
  });
});
