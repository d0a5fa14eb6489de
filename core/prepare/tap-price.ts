/**
 * What exit taps add to a run, read from onnxruntime itself instead of as the difference of two
 * timed runs.
 *
 * A tap's cost is a few operators inside a run of tens of milliseconds: timed as tapped less
 * whole, per round, it drowns in the run-to-run spread of a shared host (one preparation of
 * mnist-resnet charged c0's tap 1.9% of the model at batch 8, one the evening before −0.2%, the
 * same graph both times). Two things are read exactly instead. First, the graph onnxruntime
 * optimised: if every node of the whole model's optimised graph is in the tapped model's, with
 * the same inputs and outputs, the ramps changed nothing in the model around them (no fusion
 * given up, no layout moved), and what they add is only the nodes that are new: their heads and
 * any layout reorder feeding a head. Second, onnxruntime's per-operator profile of the tapped
 * model, which times those new nodes inside the run, in microseconds. Where the graphs differ the
 * caller falls back to timing the difference.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { onnx } from 'onnx-proto';
import type { PlainFeeds } from '../inference/batch-encoding';
import { openSession, type SessionOptions } from '../inference/onnx-session';
import { readRunProfile } from '../inference/run-profile';
import { runAndRelease } from '../inference/release-tensors';
import { pickFeeds } from '../inference/segment-chain';
import { decodeOnnxModel } from '../onnx/onnx-model';
import { withoutExitTaps } from '../onnx/exit-taps';
import { median } from '../util/stats';

/** What onnxruntime made of a tapped model against the whole model. */
export type TapGraph =
  | {
      readonly kind: 'added';
      /** The model with its taps left out (what is profiled). */
      readonly headed: Uint8Array;
      /** Names of the optimised nodes the whole model does not have: heads, layout reorders. */
      readonly added: readonly string[];
    }
  | {
      readonly kind: 'changed';
      /** A node of the whole model's optimised graph that the tapped model's lacks. */
      readonly lost: string;
    };

/** A node as compared: operator, inputs and outputs (names of generated nodes may differ). */
function nodeKey(node: onnx.INodeProto): string {
  return `${node.domain ?? ''}:${node.opType ?? ''}(${(node.input ?? []).join(',')})->${(node.output ?? []).join(',')}`;
}

/** Scratch folder for onnxruntime's files, removed whatever `body` does. */
async function inScratch<T>(body: (folder: string) => Promise<T>): Promise<T> {
  const folder = await mkdtemp(join(tmpdir(), 'apparate-tap-'));
  try {
    return await body(folder);
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

/** The nodes of the graph onnxruntime optimises `model` into, with the session options given. */
export async function optimisedNodes(
  model: string | Uint8Array,
  options: SessionOptions,
): Promise<onnx.INodeProto[]> {
  return inScratch(async (folder) => {
    const file = join(folder, 'optimised.onnx');
    const session = await openSession(model, { ...options, optimizedModelFile: file });
    await session.release();
    return decodeOnnxModel(await readFile(file), 'the optimised model').graph?.node ?? [];
  });
}

/**
 * Compares the tapped model's optimised graph with the whole model's (`wholeNodes`, from
 * `optimisedNodes`): `added` where every node of the whole is kept as it was, `changed` otherwise.
 */
export async function tapGraph(
  wholeNodes: readonly onnx.INodeProto[],
  tapped: Uint8Array,
  options: SessionOptions,
): Promise<TapGraph> {
  const headed = withoutExitTaps(tapped);
  const nodes = await optimisedNodes(headed, options);
  const kept = new Set(nodes.map(nodeKey));
  const lost = wholeNodes.find((node) => !kept.has(nodeKey(node)));
  if (lost) return { kind: 'changed', lost: `${lost.opType ?? ''} ${lost.name ?? ''}` };
  const whole = new Set(wholeNodes.map(nodeKey));
  const added = nodes.filter((node) => !whole.has(nodeKey(node))).map((node) => node.name ?? '');
  return { kind: 'added', headed, added };
}

/**
 * Median over `runs` runs (after `warmupRuns`) of the time onnxruntime's profile puts inside the
 * added nodes' kernels, in ms, at these inputs.
 */
export async function addedNodesMs(
  graph: Extract<TapGraph, { kind: 'added' }>,
  inputs: PlainFeeds,
  warmupRuns: number,
  runs: number,
  options: SessionOptions,
): Promise<number> {
  return inScratch(async (folder) => {
    const session = await openSession(graph.headed, {
      ...options,
      exitTaps: false,
      profileFilePrefix: join(folder, 'profile'),
    });
    let path: string;
    try {
      const feeds = pickFeeds(inputs, session.inputNames);
      for (let i = 0; i < warmupRuns + runs; i++) await runAndRelease(() => session.runAny(feeds), feeds);
      path = await session.endProfiling();
    } finally {
      await session.release();
    }
    const added = new Set(graph.added);
    const perRun = (await readRunProfile(path, warmupRuns)).map((run) => {
      let ms = 0;
      for (const [node, nodeMs] of run.nodeMs) if (added.has(node)) ms += nodeMs;
      return ms;
    });
    return median(perRun);
  });
}
