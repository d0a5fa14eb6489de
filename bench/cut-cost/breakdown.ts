/**
 * Where a cut's time goes, from onnxruntime's own per-operator profile of the whole model and of
 * the chain, run for run. Per run, the chain's extra wall time splits into:
 *
 * - `outsideRuntime`: time in the `run` calls outside onnxruntime's `Run` (JavaScript tensors,
 *   the inputs copied in and every output copied out to JavaScript, the binding, the event-loop
 *   hop onnxruntime-node takes before each run);
 * - `executor`: inside `Run` but in no kernel (executor setup, allocation and memory planning,
 *   fences, output handling);
 * - `addedOperators`: kernels that exist only in the chain (layout reorders at the boundaries,
 *   operators that stay unfused, a layout anchor), matched by operator type and order;
 * - `sameOperators`: the change in the kernels both runs share, with `segmentStarts` (the first
 *   kernel of every later segment: cold caches, operator threads woken from sleep) singled out.
 *
 * Profiling itself slows runs, so the components are medians over runs of profiled time; the
 * unprofiled cost comes from the timed rounds beside it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { PlainFeeds, PlainTensor } from '../../core/inference/batch-encoding';
import { openSession, type ModelSession, type SessionOptions } from '../../core/inference/onnx-session';
import { releaseTensors } from '../../core/inference/release-tensors';
import { readRunProfile, type ProfiledRun } from '../../core/inference/run-profile';
import { pickFeeds, type ChainSegment } from '../../core/inference/segment-chain';
import { median } from '../../core/util/stats';

const WARMUP_RUNS = 3;

export interface CutBreakdown {
  /** Extra wall ms per batch of the chain over the whole model, profiled. */
  readonly totalMs: number;
  readonly outsideRuntimeMs: number;
  readonly executorMs: number;
  readonly addedOperatorsMs: number;
  readonly sameOperatorsMs: number;
  readonly segmentStartsMs: number;
  /** The whole model's profiled wall ms, for scale. */
  readonly wholeMs: number;
  /** Shared operators whose time changed most, median ms per run (chain minus whole). */
  readonly topChanges: readonly { readonly node: string; readonly op: string; readonly deltaMs: number }[];
  /** Operators only the chain runs, by type, median ms per run. */
  readonly addedByType: Readonly<Record<string, number>>;
}

interface Timed {
  readonly session: ModelSession;
  readonly wallMs: number[];
}

async function runTimed(timed: Timed, feeds: PlainFeeds): Promise<Record<string, PlainTensor>> {
  const began = performance.now();
  const outputs = await timed.session.runAny(feeds);
  timed.wallMs.push(performance.now() - began);
  return outputs;
}

/** Profiles the whole model and the chain (segments' bytes with their interfaces) and splits the difference. */
export async function profileCut(
  wholeBytes: Uint8Array,
  segments: readonly (ChainSegment & { readonly bytes: Uint8Array })[],
  feeds: PlainFeeds,
  runs: number,
  sessionOptions: SessionOptions,
): Promise<CutBreakdown> {
  const folder = await mkdtemp(join(tmpdir(), 'apparate-cut-profile-'));
  const opened: Timed[] = [];
  try {
    const open = async (bytes: Uint8Array, tag: string) => {
      const timed = {
        session: await openSession(bytes, { ...sessionOptions, profileFilePrefix: join(folder, tag) }),
        wallMs: [],
      };
      opened.push(timed);
      return timed;
    };
    const whole = await open(wholeBytes, 'whole');
    const chain: Timed[] = [];
    for (const [i, segment] of segments.entries()) chain.push(await open(segment.bytes, `segment${i}`));
    // Both sides free what they produced, as the serving chain does (release-tensors.ts).
    const runChain = async () => {
      const available: Record<string, PlainTensor> = { ...feeds };
      for (const [i, timed] of chain.entries())
        Object.assign(
          available,
          await runTimed(timed, pickFeeds(available, (segments[i] as ChainSegment).inputs)),
        );
      releaseTensors(available, feeds);
    };
    const runWhole = async () => releaseTensors(await runTimed(whole, feeds), feeds);
    for (let i = 0; i < WARMUP_RUNS + runs; i++) {
      if (i % 2 === 0) {
        await runWhole();
        await runChain();
      } else {
        await runChain();
        await runWhole();
      }
    }
    const profiles: ProfiledRun[][] = [];
    for (const timed of opened)
      profiles.push(await readRunProfile(await timed.session.endProfiling(), WARMUP_RUNS));
    return splitCost(
      opened.map((t) => t.wallMs.slice(WARMUP_RUNS)),
      profiles,
    );
  } finally {
    await Promise.all(opened.map((t) => t.session.release()));
    await rm(folder, { recursive: true, force: true });
  }
}

/**
 * Splits the chain's extra time per run; `wallMs[0]`/`profiles[0]` are the whole model's, the
 * rest the segments' in order. Exported for tests over recorded profiles.
 */
export function splitCost(wallMs: readonly number[][], profiles: readonly ProfiledRun[][]): CutBreakdown {
  const [wholeWall, ...segmentWalls] = wallMs as [number[], ...number[][]];
  const [wholeRuns, ...segmentRuns] = profiles as [ProfiledRun[], ...ProfiledRun[][]];
  const runs = Math.min(
    wholeRuns.length,
    wholeWall.length,
    ...segmentRuns.map((r) => r.length),
    ...segmentWalls.map((w) => w.length),
  );
  const components = {
    total: [] as number[],
    outside: [] as number[],
    executor: [] as number[],
    added: [] as number[],
    same: [] as number[],
    starts: [] as number[],
    whole: [] as number[],
  };
  const nodeDeltas = new Map<string, number[]>();
  const addedTypes = new Map<string, number[]>();
  const opOf = new Map<string, string>();
  for (let r = 0; r < runs; r++) {
    const w = wholeRuns[r] as ProfiledRun;
    const ww = wholeWall[r] as number;
    let chainWall = 0;
    let chainRun = 0;
    let chainKernel = 0;
    let added = 0;
    let starts = 0;
    // onnxruntime names the nodes its optimizer makes with counters (`BiasGelu_token_5`), which
    // differ between the whole model and a segment, so kernels are matched by operator type and
    // order: the chain's k-th kernel of a type against the whole model's k-th. Kernels of a type
    // that the chain runs more often than the whole model (reorders at the boundary, an anchor)
    // are the added operators.
    const wholeByType = new Map<string, { node: string; ms: number }[]>();
    for (const kernel of w.kernels)
      wholeByType.set(kernel.op, [...(wholeByType.get(kernel.op) ?? []), kernel]);
    const seenOfType = new Map<string, number>();
    const addedThisRun = new Map<string, number>();
    segmentRuns.forEach((runsOfSegment, s) => {
      const run = runsOfSegment[r] as ProfiledRun;
      chainWall += segmentWalls[s]?.[r] ?? 0;
      chainRun += run.runMs;
      chainKernel += run.kernelMs;
      run.kernels.forEach((kernel, k) => {
        const index = seenOfType.get(kernel.op) ?? 0;
        seenOfType.set(kernel.op, index + 1);
        const match = wholeByType.get(kernel.op)?.[index];
        if (!match) {
          added += kernel.ms;
          addedThisRun.set(kernel.op, (addedThisRun.get(kernel.op) ?? 0) + kernel.ms);
          return;
        }
        const key = `${kernel.op} ${match.node}`;
        opOf.set(key, kernel.op);
        nodeDeltas.set(key, [...(nodeDeltas.get(key) ?? []), kernel.ms - match.ms]);
        if (s > 0 && k === 0) starts += kernel.ms - match.ms;
      });
    });
    for (const [op, ms] of addedThisRun) addedTypes.set(op, [...(addedTypes.get(op) ?? []), ms]);
    components.total.push(chainWall - ww);
    components.outside.push(chainWall - chainRun - (ww - w.runMs));
    components.executor.push(chainRun - chainKernel - (w.runMs - w.kernelMs));
    components.added.push(added);
    components.same.push(chainKernel - added - w.kernelMs);
    components.starts.push(starts);
    components.whole.push(ww);
  }
  const topChanges = [...nodeDeltas.entries()]
    .map(([key, deltas]) => ({
      node: key.slice(key.indexOf(' ') + 1),
      op: opOf.get(key) ?? 'unknown',
      deltaMs: median(deltas),
    }))
    .sort((a, b) => Math.abs(b.deltaMs) - Math.abs(a.deltaMs))
    .slice(0, 5);
  return {
    totalMs: median(components.total),
    outsideRuntimeMs: median(components.outside),
    executorMs: median(components.executor),
    addedOperatorsMs: median(components.added),
    sameOperatorsMs: median(components.same),
    segmentStartsMs: median(components.starts),
    wholeMs: median(components.whole),
    topChanges,
    addedByType: Object.fromEntries([...addedTypes.entries()].map(([op, ms]) => [op, median(ms)])),
  };
}
