/**
 * One lane of the lanes measurement (see lane-rounds.ts): a worker thread holding its own
 * single-operator-thread sessions of the whole model, the chain of segments and the floor's
 * pass-through models, which runs one of them back to back for as long as it is asked and says
 * how many batches it finished. Started through lane-thread.js, which installs the TypeScript
 * loader a worker thread otherwise lacks.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import type { PlainFeeds } from '../../core/inference/batch-encoding';
import { openSession, type ModelSession } from '../../core/inference/onnx-session';
import { runAndRelease } from '../../core/inference/release-tensors';
import { runChain, type ChainSegment } from '../../core/inference/segment-chain';
import type { LaneSetup, LaneVariant, ToLane, FromLane } from './lane-protocol';

async function openAll(models: readonly Uint8Array[]): Promise<ModelSession[]> {
  const sessions: ModelSession[] = [];
  // One operator thread: the lanes themselves are what keeps the cores busy. Blocking runs, as
  // the worker's lanes run them.
  for (const bytes of models) sessions.push(await openSession(bytes, { intraOpThreads: 1, blocking: true }));
  return sessions;
}

async function main(setup: LaneSetup): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('lane-thread runs only as a worker thread');
  const [whole] = await openAll([setup.whole]);
  if (!whole) throw new Error('no whole-model session');
  const chain = await openAll(setup.segments.map((segment) => segment.bytes));
  const floors = await openAll(setup.floors);
  const wholeChain: ChainSegment[] = [{ inputs: whole.inputNames, outputs: whole.outputNames }];
  const feeds: PlainFeeds = setup.feeds;
  const runs: Record<LaneVariant, () => Promise<unknown>> = {
    // Each run frees what it returned, as the serving chain does (release-tensors.ts).
    whole: () => runAndRelease(() => runChain([whole], wholeChain, feeds), feeds),
    chained: () => runAndRelease(() => runChain(chain, setup.segments, feeds), feeds),
    floor: async () => {
      await runAndRelease(() => runChain([whole], wholeChain, feeds), feeds);
      for (const [i, session] of floors.entries()) {
        const boundary = setup.boundary[i] as PlainFeeds;
        await runAndRelease(() => session.runAny(boundary), boundary);
      }
    },
  };
  for (const variant of Object.values(runs)) for (let i = 0; i < 3; i++) await variant();
  port.on('message', (message: ToLane) => {
    void (async () => {
      const run = runs[message.variant];
      const began = performance.now();
      const until = began + message.ms;
      let batches = 0;
      while (performance.now() < until) {
        await run();
        batches += 1;
      }
      port.postMessage({ batches, elapsedMs: performance.now() - began } satisfies FromLane);
    })();
  });
  port.postMessage({ batches: 0, elapsedMs: 0 } satisfies FromLane);
}

void main(workerData as LaneSetup);
