import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import type { PlainTensor } from '../../../core/inference/batch-encoding';
import { openSession, type ModelSession } from '../../../core/inference/onnx-session';
import { runChain } from '../../../core/inference/segment-chain';
import { ensureSharedArena } from '../../../core/inference/shared-arena';
import { analyzeGraph } from '../../../core/onnx/graph-analysis';
import { readOnnxModel } from '../../../core/onnx/onnx-model';
import { sliceModel } from '../../../core/onnx/slicing';
import { fixtureBatch } from '../../support/fixture-batch';

const run = promisify(execFile);
const GROWTH_SCRIPT = join(__dirname, '..', '..', 'support', 'arena-growth.ts');

describe('one memory arena for every session of the process', () => {
  it('is registered in the main thread and answers the same on a second call', () => {
    // Given onnxruntime-node's library beside its binding, as npm installs it
    // When the arena is asked for twice
    const first = ensureSharedArena();
    const second = ensureSharedArena();

    // Then it is shared, and the second call does not register again
    expect(first).toEqual({ shared: true });
    expect(second).toBe(first);
  });

  it('gives a cut model the same answers as the whole model and as sessions with arenas of their own', async () => {
    // Given mnist-resnet cut at its middle candidate, opened on the shared arena and on own arenas
    const { fixture, feeds } = await fixtureBatch('mnist-resnet', 8);
    const model = await readOnnxModel(fixture.onnxPath);
    const analysis = await analyzeGraph(model);
    const middle = analysis.candidates[Math.floor((analysis.candidates.length - 1) / 2)]?.id ?? '';
    const segments = sliceModel(model, analysis, { candidateIds: [middle] });
    const output = analysis.outputs[0] as string;
    const open = (bytes: Uint8Array, sharedArena: boolean) =>
      openSession(bytes, { intraOpThreads: 1, blocking: true, sharedArena });
    const sessions: ModelSession[] = [];
    try {
      const whole = await open(new Uint8Array(await readFile(fixture.onnxPath)), true);
      sessions.push(whole);
      const shared = await Promise.all(segments.map((s) => open(s.bytes, true)));
      const own = await Promise.all(segments.map((s) => open(s.bytes, false)));
      sessions.push(...shared, ...own);

      // When each runs the same batch, twice in turn (the second run reuses freed arena memory)
      const logits = async () => {
        const plain = (await whole.runAny(feeds))[output] as PlainTensor;
        const viaShared = (await runChain(shared, segments, feeds))[output] as PlainTensor;
        const viaOwn = (await runChain(own, segments, feeds))[output] as PlainTensor;
        return [plain, viaShared, viaOwn].map((t) => Array.from(t.data as Float32Array));
      };
      const first = await logits();
      const again = await logits();

      // Then every answer is bit for bit the same
      for (const answer of [...first, ...again]) expect(answer).toEqual(first[0]);
      expect(first[0]?.length).toBe(8 * 10);
    } finally {
      await Promise.all(sessions.map((s) => s.release()));
    }
  });

  it('keeps one working set for several sessions where own arenas keep one each', async () => {
    // Given four sessions of mnist-resnet and a batch of 128, whose activations dominate what a
    // session allocates as it runs, each way in a process of its own
    const growth = async (arena: 'shared' | 'own') => {
      const { stdout } = await run(process.execPath, ['-r', 'tsx/cjs', GROWTH_SCRIPT, arena]);
      return (JSON.parse(stdout) as { grewBytes: number }).grewBytes;
    };

    // When the four sessions each run it once, one after another
    const shared = await growth('shared');
    const own = await growth('own');

    // Then sessions with arenas of their own grew the process by well over twice as much
    expect(own).toBeGreaterThan(2 * Math.max(shared, 1));
    expect(own).toBeGreaterThan(40e6);
  });

  it('is left alone when the operator turns it off', async () => {
    // Given APPARATE_SHARED_ARENA=off in the environment of a process that has not yet asked
    const saved = process.env['APPARATE_SHARED_ARENA'];
    process.env['APPARATE_SHARED_ARENA'] = 'off';
    try {
      let state: unknown;
      await jest.isolateModulesAsync(async () => {
        // When it asks for the arena
        state = (await import('../../../core/inference/shared-arena')).ensureSharedArena();
      });

      // Then its sessions keep arenas of their own, and the answer says why
      expect(state).toEqual({ shared: false, reason: 'turned off by APPARATE_SHARED_ARENA=off' });
    } finally {
      if (saved === undefined) delete process.env['APPARATE_SHARED_ARENA'];
      else process.env['APPARATE_SHARED_ARENA'] = saved;
    }
  });

  it('is shared with a worker thread started after it', async () => {
    // Given the main thread's arena registered (the first test) and a thread that asks for it
    const ask = () =>
      new Promise<unknown>((resolve, reject) => {
        const worker = new Worker(
          `require('tsx/cjs');
           const { parentPort } = require('node:worker_threads');
           parentPort.postMessage(require(${JSON.stringify(require.resolve('../../../core/inference/shared-arena'))}).ensureSharedArena());`,
          // Jest gives each test file a copy of process.env; outside Jest a thread inherits the
          // real one, where the main thread leaves its mark.
          { eval: true, env: process.env },
        );
        worker.once('message', resolve);
        worker.once('error', reject);
      });
    ensureSharedArena();

    // When a thread started now asks
    const answer = await ask();

    // Then it shares the main thread's arena rather than registering one of its own
    expect(answer).toEqual({ shared: true });
  });
});
