/**
 * Latency profiling of a sliced model on onnxruntime-node: the whole model in one session, each
 * segment of the all-candidates cut, each candidate's ramp, and what cutting the model at each
 * candidate costs, at every padded batch size. Every figure is a median over repeats after
 * warm-up runs, because single runs on a shared machine are noisy; segments are fed the real
 * activations of real inputs, not zeros. Costs are measured as differences between variants run
 * in the same rounds, so that a drift of the machine touches both sides alike.
 */
import { performance } from 'node:perf_hooks';
import type { PlainFeeds, PlainTensor } from '../inference/batch-encoding';
import { openSession, type ModelSession, type SessionOptions } from '../inference/onnx-session';
import type { LatencyProfile } from '../bundle/manifest';
import { releaseTensors, runAndRelease } from '../inference/release-tensors';
import { pickFeeds, runChain } from '../inference/segment-chain';
import { runTapped, tapKernelMs } from '../inference/exit-tap';
import { median } from '../util/stats';
import type { onnx } from 'onnx-proto';
import { addedNodesMs, optimisedGraph, tapGraph, type TapGraph } from './tap-price';

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
  /**
   * A run that binds the tensors the ramp reads (named as in the model) and computes nothing (see
   * `emptyRunModel`): the ramp's session less this is its operators alone, which is all it adds
   * where it is served, inside its segment.
   */
  readonly floor: Uint8Array;
}

/** The model cut at one candidate alone, as the worker serves a config with that one ramp. */
export interface SplitCut {
  readonly id: string;
  /** From the model's inputs to the candidate. */
  readonly before: ProfiledSegment;
  /** From the candidate to the model's outputs. */
  readonly after: ProfiledSegment;
  /** A pass-through of the tensors crossing the cut: what it costs at the least. */
  readonly floor: ProfiledSegment;
}

/**
 * The whole model with one ramp tapped at the candidate (core/onnx/exit-taps.ts), as the worker
 * serves a config with that one ramp where exit taps are available; timed against the whole model,
 * less the ramp's own operators (`rampId`, one of the target's ramps), for what the tap adds.
 */
export interface TappedCut {
  readonly id: string;
  readonly tapped: Uint8Array;
  /** The tapped ramp's probabilities output. */
  readonly probs: string;
  readonly rampId: string;
}

export type ProfiledCut = SplitCut | TappedCut;

export interface ProfileTarget {
  readonly model: string | Uint8Array;
  /** Segments of the all-candidates cut, in order; segment i ends at candidate i, the last at the model's end. */
  readonly segments: readonly ProfiledSegment[];
  readonly ramps: readonly ProfiledRamp[];
  /** Per candidate (id, in order), the model cut there: timed against the whole model for its cost. */
  readonly cuts?: readonly ProfiledCut[];
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
  // Each run's outputs are freed when the next replaces them, as the serving chain frees its own.
  for (let i = 0; i < warmupRuns; i++) {
    releaseTensors(outputs, feeds);
    outputs = await session.runAny(feeds);
  }
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    releaseTensors(outputs, feeds);
    const began = performance.now();
    outputs = await session.runAny(feeds);
    times.push(performance.now() - began);
  }
  return { medianMs: median(times), outputs };
}

/**
 * Times each variant once per round, in an order that rotates from round to round (so that no
 * variant always runs after the same one and finds its caches), after `warmupRuns` rounds. With
 * `block` above one, each variant runs that many times in a row per round and its round's time is
 * the median of those runs but the first (see CUT_BLOCK).
 */
export async function timeRounds(
  variants: readonly (() => Promise<unknown>)[],
  warmupRuns: number,
  rounds: number,
  block = 1,
): Promise<number[][]> {
  for (let i = 0; i < warmupRuns; i++) for (const run of variants) await run();
  const times: number[][] = variants.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < variants.length; k++) {
      const index = (round + k) % variants.length;
      const run = variants[index] as () => Promise<unknown>;
      const runs: number[] = [];
      for (let i = 0; i < block; i++) {
        const began = performance.now();
        await run();
        runs.push(performance.now() - began);
      }
      (times[index] as number[]).push(block > 1 ? median(runs.slice(1)) : (runs[0] as number));
    }
  }
  return times;
}

/**
 * Runs of each side in a row per round when a cut is timed. A worker runs the same chain batch
 * after batch, so its sessions' weights and buffers are warm; a chain timed in strict alternation
 * with the whole model starts every run just after a different session's. Paired in one process
 * (eight pairs, batch 8, one operator thread), single alternating runs charged spam-bert's c0 and
 * c3 about a point more than blocks did (medians 1.23% and 1.14% against −0.16% and 0.05% of the
 * model, the floor being 0.33%); mnist-resnet's c3 read about the same either way (1.88%,
 * 1.79%). The first run of a block pays for the switch, which serving does not, so it is dropped.
 */
const CUT_BLOCK = 4;

/** Median of the per-round differences a − b. */
function medianDifference(a: readonly number[], b: readonly number[]): number {
  return median(a.map((t, i) => t - (b[i] ?? 0)));
}

/** The sessions timed for one candidate's cut. */
export interface CutSessions {
  /** The model cut at the candidate alone: to it, and from it. */
  readonly split: readonly [ModelSession, ModelSession];
  /** The whole model in one session. */
  readonly whole: ModelSession;
  /** A pass-through of the tensors crossing the cut. */
  readonly floor: ModelSession;
}

/**
 * What cutting at one candidate costs as served: the model cut there alone, its two segments run
 * one after the other, against the whole model in one session, in the same rounds (each side a
 * few runs in a row, as served: CUT_BLOCK); the median of the per-round differences. It is timed
 * on the whole model, not on the stretch between the neighbouring candidates, because a boundary
 * costs more inside a long run than between two short ones (on mnist-resnet about a point more at
 * batch 8: the stretch under-charged every cut). Cuts differ: one that splits a residual block
 * from its skip connection, or makes onnxruntime reorder a blocked layout, costs more than one
 * between two stages. A difference below the floor (one more run passing the boundary tensors
 * through) is noise, and the floor is charged: no cut is free.
 */
export async function timeCut(
  sessions: CutSessions,
  inputs: Readonly<Record<string, PlainTensor>>,
  warmupRuns: number,
  repeats: number,
): Promise<number> {
  const { split, whole, floor } = sessions;
  const [before, after] = split;
  const runSplit = async () => {
    const boundary = await before.runAny(pickFeeds(inputs, before.inputNames));
    const outputs = await after.runAny(pickFeeds({ ...inputs, ...boundary }, after.inputNames));
    return { ...boundary, ...outputs };
  };
  const wholeFeeds = pickFeeds(inputs, whole.inputNames);
  const floorFeeds = pickFeeds({ ...inputs, ...(await runSplit()) }, floor.inputNames);
  const [splitMs, wholeMs, floorMs] = (await timeRounds(
    [
      () => runAndRelease(runSplit, inputs),
      () => runAndRelease(() => whole.runAny(wholeFeeds), wholeFeeds),
      () => runAndRelease(() => floor.runAny(floorFeeds), floorFeeds),
    ],
    warmupRuns,
    repeats,
    CUT_BLOCK,
  )) as [number[], number[], number[]];
  return Math.max(median(floorMs), medianDifference(splitMs, wholeMs));
}

/** What a tapped model adds to the whole model, and the least of it: the taps' own kernels. */
export interface TapTiming {
  /** Median of the per-round differences, tapped less whole, ms. */
  readonly differenceMs: number;
  /** Time inside the tap kernels per run (copying the probabilities out, calling the listener), ms. */
  readonly kernelMs: number;
}

/**
 * The whole model with taps against the whole model, in the same rounds and blocks as a cut
 * (CUT_BLOCK), each tapped run with a listener that takes the probabilities as serving does.
 */
export async function timeTap(
  tapped: ModelSession,
  probs: readonly string[],
  whole: ModelSession,
  inputs: Readonly<Record<string, PlainTensor>>,
  warmupRuns: number,
  repeats: number,
): Promise<TapTiming> {
  const tappedFeeds = pickFeeds(inputs, tapped.inputNames);
  const wholeFeeds = pickFeeds(inputs, whole.inputNames);
  let kernelMs = 0;
  let runs = 0;
  const runTappedTimed = async () => {
    const before = tapKernelMs();
    // As the worker's listener does: a copy of the rows to hand on.
    const outputs = await runTapped(tapped, tappedFeeds, probs, (_, tensor) => void tensor.data.slice());
    kernelMs += tapKernelMs() - before;
    runs++;
    return outputs;
  };
  const [tappedMs, wholeMs] = (await timeRounds(
    [
      () => runAndRelease(runTappedTimed, tappedFeeds),
      () => runAndRelease(() => whole.runAny(wholeFeeds), wholeFeeds),
    ],
    warmupRuns,
    repeats,
    CUT_BLOCK,
  )) as [number[], number[]];
  return { differenceMs: medianDifference(tappedMs, wholeMs), kernelMs: runs > 0 ? kernelMs / runs : 0 };
}

/** Time inside the tap kernels per run of a tapped session, ms (mean over `runs` after `warmupRuns`). */
async function tapKernelPerRun(
  tapped: ModelSession,
  probs: readonly string[],
  inputs: Readonly<Record<string, PlainTensor>>,
  warmupRuns: number,
  runs: number,
): Promise<number> {
  const feeds = pickFeeds(inputs, tapped.inputNames);
  const run = () =>
    runAndRelease(() => runTapped(tapped, feeds, probs, (_, tensor) => void tensor.data.slice()), feeds);
  for (let i = 0; i < warmupRuns; i++) await run();
  const before = tapKernelMs();
  for (let i = 0; i < runs; i++) await run();
  return runs > 0 ? (tapKernelMs() - before) / runs : 0;
}

/**
 * What taps add to the whole model: where onnxruntime kept the whole model's graph around them
 * (tap-price.ts), the added nodes' kernel time from its profile and the taps' kernels, with no
 * timed difference to drown them; otherwise timed against the whole model (`timeTap`).
 */
async function tapTiming(
  graph: TapGraph,
  tapped: ModelSession,
  probs: readonly string[],
  whole: ModelSession,
  inputs: Readonly<Record<string, PlainTensor>>,
  warmupRuns: number,
  runs: number,
  options: SessionOptions,
): Promise<TapTiming> {
  if (graph.kind === 'changed') return timeTap(tapped, probs, whole, inputs, warmupRuns, runs);
  const addedMs = await addedNodesMs(graph, inputs, warmupRuns, runs, options);
  const kernelMs = await tapKernelPerRun(tapped, probs, inputs, warmupRuns, runs);
  return { differenceMs: addedMs + kernelMs, kernelMs };
}

/**
 * What a tap adds beyond its ramp's operators (`rampOpsMs`, timed on their own): never less than
 * its kernels' own time, so no exit is free.
 */
export function tapCutMs(timing: TapTiming, rampOpsMs: number): number {
  return Math.max(timing.kernelMs, timing.differenceMs - rampOpsMs);
}

/**
 * What a ramp adds as served: its session against a run that binds the same tensors and computes
 * nothing, in the same rounds, so that what is left is its operators (never negative). In serving
 * it runs inside the segment that ends at its candidate, so a session run's fixed cost is never
 * its own.
 */
export async function timeRamp(
  ramp: ModelSession,
  rampFeeds: PlainFeeds,
  floor: ModelSession,
  floorFeeds: PlainFeeds,
  warmupRuns: number,
  repeats: number,
): Promise<number> {
  const [rampMs, floorMs] = (await timeRounds(
    [() => ramp.runAny(rampFeeds), () => floor.runAny(floorFeeds)],
    warmupRuns,
    repeats,
  )) as [number[], number[]];
  return Math.max(0, medianDifference(rampMs, floorMs));
}

/**
 * Rounds of cut timing: as many as `repeats` at the reference batch size, where the budget and the
 * placement are decided, and a sixth elsewhere (at least one), since every run of a round runs the
 * whole model twice and those sizes only scale the costs the controllers see. Each round times a
 * block of CUT_BLOCK runs per side, of which all but the first are measured.
 */
function cutRounds(repeats: number, atReference: boolean): number {
  return atReference ? repeats : Math.ceil(repeats / 6);
}

/**
 * Opens the whole model, runs `body` with it and a way to open more sessions, and releases every
 * session opened, whatever `body` does.
 */
async function withWhole<T>(
  model: string | Uint8Array,
  options: ProfileOptions,
  body: (
    whole: ModelSession,
    open: (model: string | Uint8Array, options: ProfileOptions) => Promise<ModelSession>,
  ) => Promise<T>,
): Promise<T> {
  const sessions: ModelSession[] = [];
  const open = async (source: string | Uint8Array, sessionOptions: ProfileOptions) => {
    const session = await openSession(source, sessionOptions);
    sessions.push(session);
    return session;
  };
  try {
    return await body(await open(model, options), open);
  } finally {
    await Promise.all(sessions.map((s) => s.release()));
  }
}

/**
 * What a set of cuts costs together as served: the model cut at all of them, its segments run one
 * after the other, against the whole model, in fresh rotating rounds at the reference batch size
 * (as many as a single cut gets there); the median of the per-round differences, never negative.
 * Placement confirms its choice with this (confirm-placement.ts).
 */
export async function timeCutSet(
  model: string | Uint8Array,
  segments: readonly ProfiledSegment[],
  inputs: PlainFeeds,
  options: ProfileOptions = {},
): Promise<number> {
  return withWhole(model, options, async (whole, open) => {
    const chain: ModelSession[] = [];
    for (const segment of segments) chain.push(await open(segment.bytes, options));
    const wholeFeeds = pickFeeds(inputs, whole.inputNames);
    const [chainMs, wholeMs] = (await timeRounds(
      [
        () => runAndRelease(() => runChain(chain, segments, inputs), inputs),
        () => runAndRelease(() => whole.runAny(wholeFeeds), wholeFeeds),
      ],
      options.warmupRuns ?? 3,
      cutRounds(options.repeats ?? 15, true),
      CUT_BLOCK,
    )) as [number[], number[]];
    return Math.max(0, medianDifference(chainMs, wholeMs));
  });
}

/**
 * What a set of taps costs together as served: the whole model with the set's ramps tapped
 * against the whole model, in fresh rounds at the reference batch size, less the ramps' own
 * operators (`rampOpsMs`, summed); never less than the taps' kernels. Placement confirms its choice
 * with this where the worker serves through taps (confirm-placement.ts). `wholeGraph` is the whole
 * model's optimised graph (`optimisedGraph`), which the caller computes once for every set it times.
 */
export async function timeTapSet(
  model: string | Uint8Array,
  wholeGraph: ReadonlyMap<onnx.INodeProto, string>,
  tapped: Uint8Array,
  probs: readonly string[],
  inputs: PlainFeeds,
  rampOpsMs: number,
  options: ProfileOptions = {},
): Promise<number> {
  const graph = await tapGraph(wholeGraph, tapped, options);
  return withWhole(model, options, async (whole, open) => {
    const taps = await open(tapped, { ...options, exitTaps: true });
    const timing = await tapTiming(
      graph,
      taps,
      probs,
      whole,
      inputs,
      options.warmupRuns ?? 3,
      cutRounds(options.repeats ?? 15, true),
      options,
    );
    return tapCutMs(timing, rampOpsMs);
  });
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
    // Ramps that read the same tensors share one empty run.
    const floors = new Map<string, ModelSession>();
    const ramps = [];
    for (const ramp of target.ramps) {
      const reads = [ramp.activation, ...(ramp.maskInput ? [ramp.maskInput] : [])];
      const key = reads.join('\u0000');
      const floor = floors.get(key) ?? (await open(ramp.floor));
      floors.set(key, floor);
      ramps.push({ ramp, reads, session: await open(ramp.bytes), floor });
    }
    type OpenCut =
      | { id: string; split: [ModelSession, ModelSession]; floor: ModelSession }
      | { id: string; tapped: ModelSession; probs: string; rampId: string; graph: TapGraph };
    const cuts: OpenCut[] = [];
    const wholeGraph = (target.cuts ?? []).some((cut) => 'tapped' in cut)
      ? await optimisedGraph(target.model, options)
      : new Map();
    for (const cut of target.cuts ?? [])
      cuts.push(
        'tapped' in cut
          ? {
              id: cut.id,
              tapped: await (async () => {
                const session = await openSession(cut.tapped, { ...options, exitTaps: true });
                sessions.push(session);
                return session;
              })(),
              probs: cut.probs,
              rampId: cut.rampId,
              graph: await tapGraph(wholeGraph, cut.tapped, options),
            }
          : {
              id: cut.id,
              split: [await open(cut.before.bytes), await open(cut.after.bytes)],
              floor: await open(cut.floor.bytes),
            },
      );
    const cutMs: Record<string, number[]> = Object.fromEntries(cuts.map((c) => [c.id, [] as number[]]));
    const referenceBatchSize: number =
      options.referenceBatchSize ?? (batchSizes.includes(8) ? 8 : (batchSizes[0] ?? 8));

    const plainMs: number[] = [];
    const segmentMs: number[][] = target.segments.map(() => []);
    const rampMs: Record<string, number[]> = Object.fromEntries(
      target.ramps.map((r) => [r.id, [] as number[]]),
    );
    const total = batchSizes.length * (1 + segments.length + ramps.length + cuts.length);
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
      for (const { ramp, reads, session, floor } of ramps) {
        const feeds = pickFeeds(available, reads);
        const rampFeeds: PlainFeeds = { activation: feeds[ramp.activation] as PlainTensor };
        if (ramp.maskInput) rampFeeds.attention_mask = feeds[ramp.maskInput] as PlainTensor;
        (rampMs[ramp.id] as number[]).push(
          await timeRamp(session, rampFeeds, floor, pickFeeds(feeds, floor.inputNames), warmupRuns, repeats),
        );
        tick();
      }
      const rounds = cutRounds(repeats, batchSize === referenceBatchSize);
      for (const cut of cuts) {
        (cutMs[cut.id] as number[]).push(
          'tapped' in cut
            ? tapCutMs(
                await tapTiming(
                  cut.graph,
                  cut.tapped,
                  [cut.probs],
                  plain,
                  inputs,
                  warmupRuns,
                  rounds,
                  options,
                ),
                rampMs[cut.rampId]?.at(-1) ?? 0,
              )
            : await timeCut({ split: cut.split, whole: plain, floor: cut.floor }, inputs, warmupRuns, rounds),
        );
        tick();
      }
    }
    return {
      batchSizes: [...batchSizes],
      referenceBatchSize,
      plainMs,
      segmentMs,
      rampMs,
      rampTiming: 'operators',
      ...(cuts.length > 0
        ? {
            cutMs,
            cutTiming: cuts.some((cut) => 'tapped' in cut) ? ('tap' as const) : ('split' as const),
            ...(cuts.some((cut) => 'tapped' in cut)
              ? {
                  tapPricing: Object.fromEntries(
                    cuts.flatMap((cut) =>
                      'tapped' in cut
                        ? [[cut.id, cut.graph.kind === 'added' ? ('graph' as const) : ('timed' as const)]]
                        : [],
                    ),
                  ),
                }
              : {}),
          }
        : {}),
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
