import { readOnnxModel } from '../../core/onnx/onnx-model';
import { analyzeGraph } from '../../core/onnx/graph-analysis';
import { emptyRunModel, passThroughModel } from '../../core/onnx/pass-through';
import { openSession } from '../../core/inference/onnx-session';
import { loadFixtureModel } from '../../core/zoo/fixtures';

describe('the floor models a cost is measured against', () => {
  it('pass the boundary through whole, or bind it and give back only its shape', async () => {
    // Given mnist-resnet's activation at its fourth candidate, for a batch of 2
    const model = await loadFixtureModel('mnist-resnet');
    const analysis = await analyzeGraph(await readOnnxModel(model.onnxPath), {});
    const candidate = analysis.candidates[3];
    if (!candidate) throw new Error('mnist-resnet has fewer than four candidates');
    const dims = candidate.shape.map((d) => (typeof d === 'number' ? d : 2));
    const data = Float32Array.from({ length: dims.reduce((n, d) => n * d, 1) }, (_, i) => i % 7);
    const feeds = { [candidate.tensor]: { dtype: 'float32' as const, data, dims } };

    // When each floor model runs on it
    const through = await openSession(passThroughModel(analysis, [candidate.tensor]), { intraOpThreads: 1 });
    const empty = await openSession(emptyRunModel(analysis, [candidate.tensor]), { intraOpThreads: 1 });
    try {
      const passed = Object.values(await through.runAny(feeds))[0];
      const shape = Object.values(await empty.runAny(feeds))[0];

      // Then the pass-through copies the whole activation back out, as a cut does
      expect(passed?.dims).toEqual(dims);
      expect(Array.from(passed?.data as Float32Array).slice(0, 9)).toEqual(Array.from(data.slice(0, 9)));
      // And the empty run computes and copies out nothing but the shape, as a ramp never needs
      expect(shape?.dtype).toBe('int64');
      expect(Array.from(shape?.data as BigInt64Array, Number)).toEqual(dims);
    } finally {
      await Promise.all([through.release(), empty.release()]);
    }
  });
});
