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
import { createHash } from 'node:crypto';
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

/** A short digest of a string, for signatures that would otherwise nest without bound. */
function digest(text: string): string {
  return createHash('sha1').update(text).digest('base64');
}

/** An attribute as compared: its name and value (a tensor or graph value by its bytes). */
function attributeText(attribute: onnx.IAttributeProto): string {
  const { name, f, s, t, ints, floats, strings } = attribute;
  // A 64-bit integer arrives as a Long object or a number: both print their value.
  const integer = (attribute as { readonly i?: number | { toString(): string } | null }).i;
  return JSON.stringify([
    name,
    f,
    integer === undefined || integer === null ? undefined : integer.toString(),
    s ? Buffer.from(s).toString('base64') : undefined,
    t ? initializerText(t) : undefined,
    ints?.map(String),
    floats,
    strings?.map((bytes) => Buffer.from(bytes).toString('base64')),
  ]);
}

/** An initializer as compared: its type, shape and values, not its name. */
function initializerText(tensor: onnx.ITensorProto): string {
  return digest(
    JSON.stringify([
      tensor.dataType,
      tensor.dims?.map(String),
      tensor.rawData ? Buffer.from(tensor.rawData).toString('base64') : undefined,
      tensor.floatData,
      tensor.int64Data?.map(String),
      tensor.int32Data,
    ]),
  );
}

/**
 * Each node's signature: its operator and attributes and, recursively, what its inputs are (a
 * graph input by name, a constant by its values, another node's output by that node's signature),
 * never the names onnxruntime generates (`reorder_token_12`), which shift by one where a ramp's
 * pooling takes a name of its own. Two graphs compute a node alike when their signatures are equal.
 */
export function nodeSignatures(graph: onnx.IGraphProto): Map<onnx.INodeProto, string> {
  const tensors = new Map<string, string>();
  for (const input of graph.input ?? []) tensors.set(input.name ?? '', `input:${input.name ?? ''}`);
  for (const tensor of graph.initializer ?? [])
    tensors.set(tensor.name ?? '', `const:${initializerText(tensor)}`);
  const signatures = new Map<onnx.INodeProto, string>();
  let pending = [...(graph.node ?? [])];
  // Nodes in any order: each pass signs those whose inputs are signed (an empty input is absent).
  while (pending.length > 0) {
    const waiting: onnx.INodeProto[] = [];
    for (const node of pending) {
      const inputs = (node.input ?? []).map((name) => (name === '' ? '' : tensors.get(name)));
      if (inputs.some((input) => input === undefined)) {
        waiting.push(node);
        continue;
      }
      const signature = digest(
        JSON.stringify([
          node.domain ?? '',
          node.opType,
          (node.attribute ?? []).map(attributeText).sort(),
          inputs,
        ]),
      );
      signatures.set(node, signature);
      (node.output ?? []).forEach((output, index) => tensors.set(output, `${signature}#${index}`));
    }
    if (waiting.length === pending.length) {
      // Inputs nothing produces (a subgraph's outer names): signed by name, as a last resort.
      for (const node of waiting)
        for (const name of node.input ?? []) if (!tensors.has(name)) tensors.set(name, `outer:${name}`);
    }
    pending = waiting;
  }
  return signatures;
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

/** The graph onnxruntime optimises `model` into, with the session options given, its nodes signed. */
export async function optimisedGraph(
  model: string | Uint8Array,
  options: SessionOptions,
): Promise<Map<onnx.INodeProto, string>> {
  return inScratch(async (folder) => {
    const file = join(folder, 'optimised.onnx');
    const session = await openSession(model, { ...options, optimizedModelFile: file });
    await session.release();
    return nodeSignatures(decodeOnnxModel(await readFile(file), 'the optimised model').graph ?? {});
  });
}

/**
 * Compares the tapped model's optimised graph with the whole model's (`whole`, from
 * `optimisedGraph`): `added` where every node of the whole is computed alike, `changed` otherwise.
 */
export async function tapGraph(
  whole: ReadonlyMap<onnx.INodeProto, string>,
  tapped: Uint8Array,
  options: SessionOptions,
): Promise<TapGraph> {
  const headed = withoutExitTaps(tapped);
  const nodes = await optimisedGraph(headed, options);
  // Multisets: a node of the whole matches one node of the tapped model, once.
  const unmatched = new Map<string, number>();
  for (const signature of nodes.values()) unmatched.set(signature, (unmatched.get(signature) ?? 0) + 1);
  for (const [node, signature] of whole) {
    const left = unmatched.get(signature) ?? 0;
    if (left === 0) return { kind: 'changed', lost: `${node.opType ?? ''} ${node.name ?? ''}` };
    unmatched.set(signature, left - 1);
  }
  // What is left unmatched was added. Two nodes of one signature compute the same thing from the
  // same inputs, so which of them is named added makes no difference to what it costs.
  const added: string[] = [];
  for (const [node, signature] of nodes) {
    const left = unmatched.get(signature) ?? 0;
    if (left === 0) continue;
    added.push(node.name ?? '');
    unmatched.set(signature, left - 1);
  }
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
