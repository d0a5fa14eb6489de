/**
 * Running a sliced model: segment after segment, each fed the graph inputs and the tensors earlier
 * segments produced. This is the serving path's shape (the worker adds ramps and early release on
 * top) and the check that slicing preserved the model.
 */
import type { PlainFeeds, PlainTensor } from './batch-encoding';
import type { ModelSession } from './onnx-session';

export interface ChainSegment {
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
}

/** Picks the named tensors out of what is available so far, failing loudly on a gap in the chain. */
export function pickFeeds(
  available: Readonly<Record<string, PlainTensor>>,
  names: readonly string[],
): PlainFeeds {
  const feeds: PlainFeeds = {};
  for (const name of names) {
    const tensor = available[name];
    if (!tensor)
      throw new Error(`segment input ${name} was produced by no earlier segment nor given as a model input`);
    feeds[name] = tensor;
  }
  return feeds;
}

/**
 * Runs the segments in order and returns every tensor produced along the way (graph inputs
 * included). `afterSegment` sees each segment's outputs as soon as they exist.
 */
export async function runChain(
  sessions: readonly ModelSession[],
  segments: readonly ChainSegment[],
  inputs: PlainFeeds,
  afterSegment?: (index: number, outputs: Record<string, PlainTensor>) => void,
): Promise<Record<string, PlainTensor>> {
  const available: Record<string, PlainTensor> = { ...inputs };
  for (const [index, segment] of segments.entries()) {
    const session = sessions[index];
    if (!session) throw new Error(`no session for segment ${index}`);
    const outputs = await session.runAny(pickFeeds(available, segment.inputs));
    Object.assign(available, outputs);
    afterSegment?.(index, outputs);
  }
  return available;
}

/** Largest absolute difference between two float tensors of the same size. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)));
  return worst;
}
