/**
 * Interleaved timing of the whole model, the chain of segments and the cut floor, in the same
 * rounds: each round times every side for a few runs, rotating which goes first, so a slow spell
 * of the (shared) machine lands on all of them. Figures are medians of per-round ratios against
 * the whole model of that round, with their quartiles.
 */
import { performance } from 'node:perf_hooks';
import type { PlainFeeds, PlainTensor } from '../../core/inference/batch-encoding';
import type { ModelSession } from '../../core/inference/onnx-session';
import { runAndRelease } from '../../core/inference/release-tensors';
import { pickFeeds, runChain, type ChainSegment } from '../../core/inference/segment-chain';
import { median, quantile } from '../../core/util/stats';

export interface Spread {
  readonly median: number;
  readonly p25: number;
  readonly p75: number;
}

export function spread(values: readonly number[]): Spread {
  return { median: median(values), p25: quantile(values, 0.25), p75: quantile(values, 0.75) };
}

/** A chain to time: its sessions and their interfaces. */
export interface TimedChain {
  readonly sessions: readonly ModelSession[];
  readonly segments: readonly ChainSegment[];
}

/** Wall and CPU figures of one side, with its per-round ratios to the whole model. */
export interface SideFigures {
  readonly ms: Spread;
  readonly ratio: Spread;
  readonly cpuMs: Spread;
  readonly cpuRatio: Spread;
}

export interface RoundsResult {
  readonly wholeMs: Spread;
  readonly wholeCpuMs: Spread;
  /** Per variant: its ms per batch and its per-round ratios to the whole model. */
  readonly variants: Readonly<Record<string, SideFigures>>;
  /** The floor's per-round ratios: (whole + pass-through runs) / whole. */
  readonly floorRatio: Spread;
  readonly floorCpuRatio: Spread;
}

/**
 * Wall ms and process CPU ms per run. CPU time is the steadier measure on a shared machine: a
 * run that is descheduled loses wall time but not CPU time, and with one operator thread the run
 * happens on this thread, so CPU time is what the run itself did.
 */
async function timeMs(runs: number, body: () => Promise<unknown>): Promise<{ wall: number; cpu: number }> {
  const cpuBefore = process.cpuUsage();
  const began = performance.now();
  for (let i = 0; i < runs; i++) await body();
  const wall = (performance.now() - began) / runs;
  const cpu = process.cpuUsage(cpuBefore);
  return { wall, cpu: (cpu.user + cpu.system) / 1000 / runs };
}

/**
 * Times the whole model against one or more chains (variants, e.g. default and tuned sessions)
 * and against the floor: `floorSessions[i]` passes cut i's tensors through, fed from `boundary`.
 * With `apart`, the variant `apart` times that chain's segments each in a block of its own runs
 * (fed what the chain hands it) and sums them: the same work as the chain, but every run follows
 * a run of the same session, whose memory is still in the core's caches. The chain minus `apart`
 * is what switching sessions at each boundary costs.
 */
export async function timeRounds(
  whole: ModelSession,
  chains: Readonly<Record<string, TimedChain>>,
  floorSessions: readonly ModelSession[],
  boundaryFeeds: readonly PlainFeeds[],
  feeds: PlainFeeds,
  rounds: number,
  runsPerRound: number,
  apart?: TimedChain,
): Promise<RoundsResult> {
  type Timing = { wall: number; cpu: number };
  const runs = (body: () => Promise<unknown>) => () => timeMs(runsPerRound, body);
  const sides: [string, () => Promise<Timing>][] = [
    // Every side frees what its runs return, as the serving chain does (release-tensors.ts).
    ['whole', runs(() => runAndRelease(() => whole.runAny(feeds), feeds))],
    ...Object.entries(chains).map(
      ([name, chain]) =>
        [name, runs(() => runAndRelease(() => runChain(chain.sessions, chain.segments, feeds), feeds))] as [
          string,
          () => Promise<Timing>,
        ],
    ),
    [
      'floor',
      runs(async () => {
        for (const [i, session] of floorSessions.entries()) {
          const boundary = boundaryFeeds[i] as PlainFeeds;
          await runAndRelease(() => session.runAny(boundary), boundary);
        }
      }),
    ],
  ];
  if (apart) {
    // Each segment in turn: one untimed run, then `runsPerRound` timed ones, summed per run.
    const segmentFeeds = await segmentFeedsOf(apart, feeds);
    sides.push([
      'apart',
      async () => {
        const sum = { wall: 0, cpu: 0 };
        for (const [i, session] of apart.sessions.entries()) {
          const segmentFeed = segmentFeeds[i] as PlainFeeds;
          const run = () => runAndRelease(() => session.runAny(segmentFeed), segmentFeed);
          await run();
          const took = await timeMs(runsPerRound, run);
          sum.wall += took.wall;
          sum.cpu += took.cpu;
        }
        return sum;
      },
    ]);
  }
  // Warm-up: at least three runs of every side before any is timed.
  const warmups = Math.ceil(3 / runsPerRound);
  for (const [, time] of sides) for (let i = 0; i < warmups; i++) await time();
  const ms: Record<string, number[]> = Object.fromEntries(sides.map(([name]) => [name, []]));
  const cpu: Record<string, number[]> = Object.fromEntries(sides.map(([name]) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    const order = sides.map((_, i) => sides[(i + round) % sides.length] as (typeof sides)[number]);
    for (const [name, time] of order) {
      const took = await time();
      ms[name]!.push(took.wall);
      cpu[name]!.push(took.cpu);
    }
  }
  const ratio = (values: number[], base: number[]) => values.map((v, i) => v / (base[i] as number));
  const withWhole = (values: number[], base: number[]) =>
    values.map((v, i) => (v + (base[i] as number)) / (base[i] as number));
  const variants: Record<string, SideFigures> = {};
  for (const name of [...Object.keys(chains), ...(apart ? ['apart'] : [])]) {
    variants[name] = {
      ms: spread(ms[name]!),
      ratio: spread(ratio(ms[name]!, ms.whole!)),
      cpuMs: spread(cpu[name]!),
      cpuRatio: spread(ratio(cpu[name]!, cpu.whole!)),
    };
  }
  return {
    wholeMs: spread(ms.whole!),
    wholeCpuMs: spread(cpu.whole!),
    variants,
    floorRatio: spread(withWhole(ms.floor!, ms.whole!)),
    floorCpuRatio: spread(withWhole(cpu.floor!, cpu.whole!)),
  };
}

/** What each segment of the chain is fed, from one run of it (graph inputs and earlier cuts' tensors). */
async function segmentFeedsOf(chain: TimedChain, feeds: PlainFeeds): Promise<PlainFeeds[]> {
  const available = await runChain(chain.sessions, chain.segments, feeds);
  return chain.segments.map((segment) => pickFeeds(available, segment.inputs));
}

/** The tensors each cut hands on, from one run of the chain (the floor models' feeds). */
export async function boundaryFeedsOf(chain: TimedChain, feeds: PlainFeeds): Promise<PlainFeeds[]> {
  const available: Record<string, PlainTensor> = await runChain(chain.sessions, chain.segments, feeds);
  return chain.segments
    .slice(0, -1)
    .map((segment) =>
      Object.fromEntries(segment.outputs.map((name) => [name, available[name] as PlainTensor])),
    );
}
