/**
 * Layout anchors on the real image fixture: a segment that starts just before a residual block
 * gets a 1x1 MaxPool in front of the block, onnxruntime's own optimised graph of that segment then
 * fuses the block as the whole model does (no plain-layout Add or Relu, fewer reorders), and the
 * chain still gives the whole model's outputs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { maxAbsDiff, runChain } from '../../core/inference/segment-chain';
import { openSession } from '../../core/inference/onnx-session';
import { readOnnxModel } from '../../core/onnx/onnx-model';
import { anchoredName } from '../../core/onnx/layout-anchor';
import { sliceModel } from '../../core/onnx/slicing';
import { analysedFixture, servingBatches, type AnalysedFixture } from './fixture-runs';

let mnist: AnalysedFixture;
let folder: string;

beforeAll(async () => {
  mnist = await analysedFixture('mnist-resnet');
  folder = await mkdtemp(join(tmpdir(), 'apparate-anchor-test-'));
});

afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

/** Operator types of onnxruntime's CPU-optimised graph of a model. */
async function optimisedOps(bytes: Uint8Array, name: string): Promise<string[]> {
  const path = join(folder, `${name}.onnx`);
  const session = await ort.InferenceSession.create(bytes, {
    graphOptimizationLevel: 'all',
    optimizedModelFilePath: path,
    intraOpNumThreads: 1,
    logSeverityLevel: 3,
  });
  await session.release();
  return ((await readOnnxModel(path)).graph?.node ?? []).map((node) => node.opType ?? '');
}

describe('a layout anchor', () => {
  it('lets onnxruntime fuse the residual block that starts a segment', async () => {
    // c4 ends block 4; block 5 reads it in its first convolution and in its skip connection.
    const cut = mnist.analysis.candidates.find((c) => c.id === 'c4');
    const anchored = sliceModel(mnist.model, mnist.analysis, { candidateIds: ['c4'] });
    const plain = sliceModel(mnist.model, mnist.analysis, { candidateIds: ['c4'] }, { layoutAnchors: false });
    const withAnchor = await optimisedOps(anchored[1]?.bytes as Uint8Array, 'anchored');
    const without = await optimisedOps(plain[1]?.bytes as Uint8Array, 'plain');
    expect(without).toEqual(expect.arrayContaining(['Add', 'Relu']));
    expect(withAnchor).not.toContain('Add');
    expect(withAnchor).not.toContain('Relu');
    expect(withAnchor.filter((op) => op.startsWith('Reorder')).length).toBeLessThan(
      without.filter((op) => op.startsWith('Reorder')).length,
    );
    // The first segment, which hands the activation on, is cut the same either way.
    expect(anchored[0]?.bytes).toEqual(plain[0]?.bytes);
    expect(anchored[1]?.inputs).toEqual(plain[1]?.inputs);
    expect(cut?.tensor).toBe(anchored[0]?.outputs[0]);
  });

  it('is left out where only convolutions read the activation', () => {
    // c2 ends block 2; block 3 downsamples, and its shortcut is a convolution too.
    const activation = mnist.analysis.candidates.find((c) => c.id === 'c2')?.tensor ?? '';
    const readers = mnist.analysis.nodes.filter((n) => (n.input ?? []).includes(activation));
    expect(readers.map((n) => n.opType)).toEqual(['Conv', 'Conv']);
    const segments = sliceModel(mnist.model, mnist.analysis, { candidateIds: ['c2'] });
    const plain = sliceModel(mnist.model, mnist.analysis, { candidateIds: ['c2'] }, { layoutAnchors: false });
    expect(segments[1]?.bytes).toEqual(plain[1]?.bytes);
  });

  it('keeps the chain equal to the whole model on real inputs', async () => {
    const cuts = ['c1', 'c4', 'c7'];
    const segments = sliceModel(mnist.model, mnist.analysis, { candidateIds: cuts });
    const [batch] = await servingBatches(mnist.fixture, 8, 8);
    const whole = await openSession(mnist.fixture.onnxPath, { intraOpThreads: 1 });
    const sessions = await Promise.all(segments.map((s) => openSession(s.bytes, { intraOpThreads: 1 })));
    try {
      const expected = await whole.runAny(batch!);
      const chained = await runChain(sessions, segments, batch!);
      const output = mnist.analysis.outputs[0] as string;
      expect(
        maxAbsDiff(chained[output]!.data as Float32Array, expected[output]!.data as Float32Array),
      ).toBeLessThan(1e-4);
      expect(Object.keys(chained)).not.toContain(anchoredName(segments[1]!.inputs.at(-1)!));
    } finally {
      await Promise.all([whole, ...sessions].map((s) => s.release()));
    }
  });
});
