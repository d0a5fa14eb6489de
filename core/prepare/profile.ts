/**
 * Latency profiling of a sliced model on onnxruntime-node: the whole model in one session, each
 * segment of the all-candidates cut, and each candidate's ramp on its own, at every padded batch
 * size. Every figure is a median over repeats after warm-up runs, because single runs on a shared
 * machine are noisy; segments are fed the real activations of real inputs, not zeros.
 */
import { performance } from 'node:perf_hooks';
import type { PlainFeeds, PlainTensor } from '../inference/batch-encoding';
import { openSession, type ModelSession, type SessionOptions } from '../inference/onnx-session';
import type { LatencyProfile } from '../bundle/manifest';
import { pickFeeds } from '../inference/segment-chain';
import { median } from '../util/stats';

export const PROFILE_BATCH_SIZES = [1, 2, 4, 8, 16, 32] as const;

export interface ProfiledSegment {
  readonly bytes: Uint8Array;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
}

export interface ProfiledRamp {
  readonly id: string;
  readonly bytes: Uint8Array;
  /** Tensor (an output of the segment that ends at this candidate) the ramp reads. */
  readonly activation: string;
  /** Graph input to pass as the ramp's `attention_mask`, for masked-mean sequence ramps. */
  readonly maskInput?: string;
}

export interface ProfileTarget {
  readonly model: string | Uint8Array;
  /** Segments of the all-candidates cut, in order; segment i ends at candidate i, the last at the model's end. */
  readonly segments: readonly ProfiledSegment[];
  readonly ramps: readonly ProfiledRamp[];
  /**
   * Per candidate (id, in order), the segments i and i+1 of the all-candidates cut as one: what
   * the model runs where candidate i is not cut. Timing the pair against it gives that
   * candidate's own cut cost.
   */
  readonly uncut?: readonly {
    readonly id: string;
    readonly segment: ProfiledSegment;
    /** A pass-through of the tensors crossing the cut: what it costs at the least. */
    readonly floor: ProfiledSegment;
  }[];
}

export interface ProfileOptions extends SessionOptions {
  readonly batchSizes?: readonly number[];
  readonly referenceBatchSize?: number;
  readonly warmupRuns?: number;
  readonly repeats?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

/** Median wall time of `repeats` runs after `warmupRuns`; returns the last run's outputs too. */
export async function timeRuns(
  session: ModelSession,
  feeds: PlainFeeds,
  warmupRuns: number,
  repeats: number,
): Promise<{ medianMs: number; outputs: Record<string, PlainTensor> }> {
  let outputs: Record<string, PlainTensor> = {};
  for (let i = 0; i < warmupRuns; i++) outputs = await session.runAny(feeds);
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const began = performance.now();
    outputs = await session.runAny(feeds);
    times.push(performance.now() - began);
  }
  return { medianMs: median(times), outputs };
}

/**
 * What cutting at one candidate costs: the two segments on either side of it run one after the
 * other, against the one segment that spans both, alternating run for run so that both see the
 * same machine; the median of the per-run differences, never negative (a pair measured faster is
 * noise). Cuts differ: one that splits a residual block from its skip connection, or makes
 * onnxruntime reorder a blocked layout, costs more than one between two stages. A difference
 * measured below the floor (one more run passing the boundary tensors through, timed in the same
 * loop) is noise on a busy machine, and the floor is charged instead: no cut is free.
 */
export async function timeCut(
  pair: readonly [ModelSession, ModelSession],
  pairInputs: readonly [readonly string[], readonly string[]],
  merged: ModelSession,
  floor: ModelSession,
  available: Readonly<Record<string, PlainTensor>>,
  warmupRuns: number,
  repeats: number,
): Promise<number> {
  const [first, second] = pair;
  let boundary: Record<string, PlainTensor> = {};
  const runPair = async () => {
    boundary = await first.runAny(pickFeeds(available, pairInputs[0]));
    await second.runAny(pickFeeds({ ...available, ...boundary }, pairInputs[1]));
  };
  const mergedFeeds = pickFeeds(available, merged.inputNames);
  await runPair();
  const floorFeeds = pickFeeds(boundary, floor.inputNames);
  for (let i = 0; i < warmupRuns; i++) {
    await runPair();
    await merged.runAny(mergedFeeds);
    await floor.runAny(floorFeeds);
  }
  const differences: number[] = [];
  const floors: number[] = [];
  for (let i = 0; i < repeats; i++) {
    let began = performance.now();
    await runPair();
    const pairMs = performance.now() - began;
    began = performance.now();
    await merged.runAny(mergedFeeds);
    differences.push(pairMs - (performance.now() - began));
    began = performance.now();
    await floor.runAny(floorFeeds);
    floors.push(performance.now() - began);
  }
  return Math.max(median(floors), median(differences));
}

/** Profiles the target at each batch size; `feedsFor(b)` gives b real inputs as model feeds. */
export async function profileLatency(
  target: ProfileTarget,
  feedsFor: (batchSize: number) => PlainFeeds,
  options: ProfileOptions = {},
): Promise<LatencyProfile> {
  const batchSizes = options.batchSizes ?? PROFILE_BATCH_SIZES;
  const warmupRuns = options.warmupRuns ?? 3;
  const repeats = options.repeats ?? 15;
  const sessions: ModelSession[] = [];
  const open = async (model: string | Uint8Array) => {
    const session = await openSession(model, options);
    sessions.push(session);
    return session;
  };
  try {
    const plain = await open(target.model);
    const segments = [];
    for (const segment of target.segments) segments.push(await open(segment.bytes));
    const ramps = [];
    for (const ramp of target.ramps) ramps.push({ ramp, session: await open(ramp.bytes) });
    const uncut: { id: string; session: ModelSession; floor: ModelSession }[] = [];
    for (const entry of target.uncut ?? [])
      uncut.push({
        id: entry.id,
        session: await open(entry.segment.bytes),
        floor: await open(entry.floor.bytes),
      });
    const cutMs: Record<string, number[]> = Object.fromEntries(uncut.map((u) => [u.id, [] as number[]]));

    const plainMs: number[] = [];
    const segmentMs: number[][] = target.segments.map(() => []);
    const rampMs: Record<string, number[]> = Object.fromEntries(
      target.ramps.map((r) => [r.id, [] as number[]]),
    );
    const total = batchSizes.length * (1 + segments.length + ramps.length + uncut.length);
    let done = 0;
    const tick = () => options.onProgress?.(++done, total);
    for (const batchSize of batchSizes) {
      const inputs = feedsFor(batchSize);
      plainMs.push((await timeRuns(plain, inputs, warmupRuns, repeats)).medianMs);
      tick();
      const available: Record<string, PlainTensor> = { ...inputs };
      for (const [index, session] of segments.entries()) {
        const spec = target.segments[index] as ProfiledSegment;
        const timed = await timeRuns(session, pickFeeds(available, spec.inputs), warmupRuns, repeats);
        (segmentMs[index] as number[]).push(timed.medianMs);
        Object.assign(available, timed.outputs);
        tick();
      }
      for (const { ramp, session } of ramps) {
        const feeds = pickFeeds(available, [ramp.activation]);
        const rampFeeds: PlainFeeds = { activation: feeds[ramp.activation] as PlainTensor };
        if (ramp.maskInput)
          rampFeeds.attention_mask = pickFeeds(available, [ramp.maskInput])[ramp.maskInput] as PlainTensor;
        (rampMs[ramp.id] as number[]).push(
          (await timeRuns(session, rampFeeds, warmupRuns, repeats)).medianMs,
        );
        tick();
      }
      for (const [index, { id, session, floor }] of uncut.entries()) {
        const pair = [segments[index], segments[index + 1]] as [ModelSession, ModelSession];
        const inputs = [
          target.segments[index]?.inputs ?? [],
          target.segments[index + 1]?.inputs ?? [],
        ] as const;
        (cutMs[id] as number[]).push(
          await timeCut(pair, inputs, session, floor, available, warmupRuns, repeats),
        );
        tick();
      }
    }
    return {
      batchSizes: [...batchSizes],
      referenceBatchSize:
        options.referenceBatchSize ?? (batchSizes.includes(8) ? 8 : (batchSizes[0] as number)),
      plainMs,
      segmentMs,
      rampMs,
      ...(uncut.length > 0 ? { cutMs } : {}),
      warmupRuns,
      repeats,
      intraOpThreads: options.intraOpThreads ?? 0,
    };
  } finally {
    await Promise.all(sessions.map((s) => s.release()));
  }
}

/** Index of the profile's reference batch size. */
export function referenceIndex(profile: LatencyProfile): number {
  return Math.max(0, profile.batchSizes.indexOf(profile.referenceBatchSize));
}

/** Time from the model's start to the end of candidate `index`'s segment, at batch-size slot `slot`. */
export function backboneMs(profile: LatencyProfile, index: number, slot: number): number {
  let sum = 0;
  for (let i = 0; i <= index; i++) sum += profile.segmentMs[i]?.[slot] ?? 0;
  return sum;
}
