import type { PlainTensor } from '../../../core/inference/batch-encoding';
import { directRunState, openDirectSession } from '../../../core/inference/direct-session';
import { openSession, type ModelSession } from '../../../core/inference/onnx-session';
import { releaseTensors } from '../../../core/inference/release-tensors';
import { runChain } from '../../../core/inference/segment-chain';
import { ensureSharedArena } from '../../../core/inference/shared-arena';
import { analyzeGraph } from '../../../core/onnx/graph-analysis';
import { makeNode } from '../../../core/onnx/graph-builder';
import { encodeOnnxModel, readOnnxModel } from '../../../core/onnx/onnx-model';
import { sliceModel } from '../../../core/onnx/slicing';
import { makeValueInfo } from '../../../core/onnx/tensor-types';
import { fixtureBatch } from '../../support/fixture-batch';

const FLOAT = 1;
const INT64 = 7;

/** A one-node model over float input `x`. */
function oneNodeModel(
  op: string,
  output: string,
  inputShape: (string | number)[],
  outputs: ReturnType<typeof makeValueInfo>[],
): Uint8Array {
  return encodeOnnxModel({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'apparate-test',
    graph: {
      name: op,
      node: [makeNode(op, ['x'], [output], `${op}0`)],
      input: [makeValueInfo('x', FLOAT, inputShape)],
      output: outputs,
    },
  });
}

/** A model whose output's shape depends on its input's values: the indices of the non-zeros. */
const nonZeroModel = () =>
  oneNodeModel('NonZero', 'indices', [4], [makeValueInfo('indices', INT64, [1, 'found'])]);

/** A model that hands its input back beside what it computes, as a segment passes a mask on. */
const passOnModel = () =>
  oneNodeModel('Relu', 'y', ['n'], [makeValueInfo('y', FLOAT, ['n']), makeValueInfo('x', FLOAT, ['n'])]);

const values = (tensor: PlainTensor | undefined) => Array.from(tensor?.data ?? [], Number);

describe('a session run on buffers of our own (the C API, outputs pre-allocated)', () => {
  beforeAll(() => {
    // As the worker does: the arena first, so the sessions below share it.
    ensureSharedArena();
  });

  it('is available here, as on every machine onnxruntime-node installs on', () => {
    expect(directRunState()).toEqual({ direct: true });
  });

  it.each(['mnist-resnet', 'spam-bert'])(
    'gives %s the answers of the binding to the bit, run after run',
    async (name) => {
      // Given the fixture, opened directly and through onnxruntime-node's binding
      const { fixture, feeds } = await fixtureBatch(name, 4);
      const direct = await openSession(fixture.onnxPath, { intraOpThreads: 1, blocking: true });
      const binding = await openSession(fixture.onnxPath, {
        intraOpThreads: 1,
        blocking: true,
        direct: false,
      });
      try {
        // When both run the batch, the direct session three times (the first learns the output
        // shapes, the others write into buffers given to onnxruntime before the run)
        const expected = await binding.runAny(feeds);
        const runs = [await direct.runAny(feeds), await direct.runAny(feeds), await direct.runAny(feeds)];

        // Then they name the same inputs and outputs, and every run agrees to the bit
        expect(direct.inputNames).toEqual(binding.inputNames);
        expect(direct.outputNames).toEqual(binding.outputNames);
        for (const got of runs)
          for (const output of binding.outputNames) {
            expect(got[output]?.dtype).toBe(expected[output]?.dtype);
            expect(got[output]?.dims).toEqual(expected[output]?.dims);
            expect(values(got[output])).toEqual(values(expected[output]));
          }
        // And each run's outputs are arrays of their own, not one buffer written again
        expect(runs[1]?.[direct.outputNames[0] as string]?.data.buffer).not.toBe(
          runs[2]?.[direct.outputNames[0] as string]?.data.buffer,
        );
      } finally {
        await Promise.all([direct.release(), binding.release()]);
      }
    },
  );

  it('runs mnist-resnet cut at c0 to the same logits as the whole model, boundary and all', async () => {
    // Given the model cut where its activation is largest, every session direct
    const { fixture, feeds } = await fixtureBatch('mnist-resnet', 8);
    const model = await readOnnxModel(fixture.onnxPath);
    const segments = sliceModel(model, await analyzeGraph(model), { candidateIds: ['c0'] });
    const sessions: ModelSession[] = [];
    for (const segment of segments)
      sessions.push(await openSession(segment.bytes, { intraOpThreads: 1, blocking: true }));
    const whole = await openSession(fixture.onnxPath, { intraOpThreads: 1, blocking: true });
    try {
      // When the chain runs twice (freeing the first run's boundary, as serving does) and the
      // whole model once
      const first = await runChain(sessions, segments, feeds);
      releaseTensors(first, feeds);
      const second = await runChain(sessions, segments, feeds);
      const expected = await whole.runAny(feeds);

      // Then the logits agree to the bit, and the boundary is the activation at its full size
      expect(values(second.logits)).toEqual(values(expected.logits));
      const boundary = second[segments[0]?.outputs[0] as string];
      expect(boundary?.dims).toEqual([8, 32, 28, 28]);
      expect(boundary?.data).toBeInstanceOf(Float32Array);
    } finally {
      await Promise.all([...sessions, whole].map((s) => s.release()));
    }
  });

  it("runs mnist-resnet cut at c0 to the same logits with onnxruntime's memory pattern on and off", async () => {
    // Given the model cut at c0, its segments opened with and without the memory pattern, directly
    // and through the binding
    const { fixture, feeds } = await fixtureBatch('mnist-resnet', 8);
    const model = await readOnnxModel(fixture.onnxPath);
    const segments = sliceModel(model, await analyzeGraph(model), { candidateIds: ['c0'] });
    const chains: ModelSession[][] = [];
    for (const memoryPattern of [true, false])
      for (const direct of [true, false]) {
        const chain: ModelSession[] = [];
        for (const segment of segments)
          chain.push(
            await openSession(segment.bytes, { intraOpThreads: 1, blocking: true, memoryPattern, direct }),
          );
        chains.push(chain);
      }
    try {
      // When each chain runs the batch twice (a pattern, where kept, is laid out by the first run)
      const logits: number[][] = [];
      for (const chain of chains)
        for (let run = 0; run < 2; run++) {
          const outputs = await runChain(chain, segments, feeds);
          logits.push(values(outputs.logits));
          releaseTensors(outputs, feeds);
        }

      // Then every run of every chain gives the same logits to the bit
      expect(logits).toHaveLength(8);
      for (const got of logits.slice(1)) expect(got).toEqual(logits[0]);
      expect(logits[0]).toHaveLength(80);
    } finally {
      await Promise.all(chains.flat().map((s) => s.release()));
    }
  });

  it('follows an output whose shape depends on the values, not only on the input shapes', () => {
    // Given a model giving the indices of its input's non-zeros
    const session = openDirectSession(nonZeroModel(), { intraOpThreads: 1, config: {} });
    const run = (x: number[]) =>
      session.runAny({ x: { dtype: 'float32', dims: [4], data: Float32Array.from(x) } }).indices;
    try {
      // When inputs of one shape with two, then three, then one non-zero are run
      const two = run([0, 1, 0, 2]);
      const three = run([3, 1, 0, 2]);
      const one = run([0, 0, 0, 5]);

      // Then each answer has its own shape and values (the shape learnt from the first run did
      // not hold for the second, which was run again with onnxruntime allocating)
      expect(two?.dims).toEqual([1, 2]);
      expect(values(two)).toEqual([1, 3]);
      expect(three?.dims).toEqual([1, 3]);
      expect(values(three)).toEqual([0, 1, 3]);
      expect(one?.dims).toEqual([1, 1]);
      expect(values(one)).toEqual([3]);
    } finally {
      session.release();
    }
  });

  it('hands an input passed on as an output back whole, run after run', () => {
    // Given a model whose second output is its input
    const session = openDirectSession(passOnModel(), { intraOpThreads: 1, config: {} });
    try {
      for (const x of [
        [-1, 2, -3],
        [4, -5, 6],
        [-7, 8, 9],
      ]) {
        // When inputs of one shape are run one after another
        const feed: PlainTensor = { dtype: 'float32', dims: [3], data: Float32Array.from(x) };
        const outputs = session.runAny({ x: feed });

        // Then the input comes back as it went in, and the computed output is right
        expect(values(outputs.x)).toEqual(x);
        expect(values(outputs.y)).toEqual(x.map((v) => Math.max(0, v)));
      }
    } finally {
      session.release();
    }
  });

  it('says which input is missing, and what a released session can no longer do', () => {
    // Given the same small model
    const session = openDirectSession(nonZeroModel(), { intraOpThreads: 1, config: {} });

    // Then a run without its input names the input and what the model takes
    expect(() => session.runAny({})).toThrow('input x is missing; this model takes x');
    // And a run of the wrong type carries onnxruntime's own explanation
    expect(() => session.runAny({ x: { dtype: 'int64', dims: [4], data: new BigInt64Array(4) } })).toThrow(
      /Run: .*(type|tensor\(int64\))/i,
    );
    // And once released, it says so instead of running
    session.release();
    expect(() => session.runAny({ x: { dtype: 'float32', dims: [4], data: new Float32Array(4) } })).toThrow(
      'this session has been released',
    );
  });

  it('reports a model onnxruntime cannot load', () => {
    expect(() => openDirectSession(new Uint8Array([1, 2, 3]), { intraOpThreads: 1, config: {} })).toThrow(
      /CreateSession: /,
    );
  });
});
