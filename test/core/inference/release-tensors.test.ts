import { createBatchEncoder, type PlainTensor } from '../../../core/inference/batch-encoding';
import { openSession } from '../../../core/inference/onnx-session';
import { releaseTensors, runAndRelease } from '../../../core/inference/release-tensors';
import { runChain } from '../../../core/inference/segment-chain';
import { sampleAt } from '../../../core/data/dataset';
import { analyzeGraph } from '../../../core/onnx/graph-analysis';
import { readOnnxModel } from '../../../core/onnx/onnx-model';
import { sliceModel } from '../../../core/onnx/slicing';
import { loadFixtureModel, loadModelData } from '../../../core/zoo/fixtures';

describe('releasing the tensors a run produced', () => {
  it.each(['mnist-resnet', 'spam-bert'])(
    'frees %s’s boundary activations at once and leaves the feeds and what was copied out intact',
    async (name) => {
      // Given the fixture cut at its first candidate and a batch of real serving inputs
      const fixture = await loadFixtureModel(name);
      const model = await readOnnxModel(fixture.onnxPath);
      const analysis = await analyzeGraph(model);
      const segments = sliceModel(model, analysis, { candidateIds: [analysis.candidates[0]?.id ?? ''] });
      const stream = await loadModelData(fixture, 'serving');
      const feeds = createBatchEncoder(fixture.spec).encode(
        Array.from({ length: 4 }, (_, i) => sampleAt(stream, i)),
      );
      const fedBytes = Object.values(feeds).map((tensor) => tensor.data.byteLength);
      const sessions = await Promise.all(
        segments.map((segment) => openSession(segment.bytes, { intraOpThreads: 1, blocking: true })),
      );
      try {
        const available = await runChain(sessions, segments, feeds);
        const boundary = segments[0]?.outputs ?? [];
        const output = analysis.outputs[0] as string;
        const copied = (available[output] as PlainTensor).data.slice();
        const boundaryBytes = boundary.map((tensor) => available[tensor]?.data.byteLength ?? 0);
        expect(Math.min(...boundaryBytes)).toBeGreaterThan(0);
        const before = process.memoryUsage().arrayBuffers;

        // When everything the chain produced is released, keeping its feeds
        releaseTensors(available, feeds);

        // Then the boundary's buffers are empty and their memory is gone without a collection
        for (const tensor of boundary) expect(available[tensor]?.data.byteLength).toBe(0);
        const freed = before - process.memoryUsage().arrayBuffers;
        expect(freed).toBeGreaterThanOrEqual(boundaryBytes.reduce((a, b) => a + b, 0));
        // And the feeds and the copy taken before are untouched
        expect(Object.values(feeds).map((tensor) => tensor.data.byteLength)).toEqual(fedBytes);
        expect(copied.length).toBeGreaterThan(0);
        // And a released tensor given again is skipped, not an error
        expect(() => releaseTensors(available, feeds)).not.toThrow();
      } finally {
        await Promise.all(sessions.map((session) => session.release()));
      }
    },
  );

  it('leaves a buffer alone when a kept tensor shares it', async () => {
    const shared = new Float32Array(16).fill(1);
    const own = new Float32Array(16).fill(2);
    const keep = { input: { dtype: 'float32' as const, data: shared.subarray(0, 8), dims: [8] } };
    await runAndRelease(
      () =>
        Promise.resolve({
          view: { dtype: 'float32', data: shared.subarray(8), dims: [8] },
          own: { dtype: 'float32', data: own, dims: [16] },
        }),
      keep,
    );
    expect(shared.byteLength).toBe(64);
    expect(Array.from(keep.input.data)).toEqual(Array(8).fill(1));
    expect(own.byteLength).toBe(0);
  });
});
