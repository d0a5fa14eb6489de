/**
 * What a cut costs in throughput when the cores are kept busy by lanes rather than by operator
 * threads: `lanes` worker threads, each with its own single-threaded sessions, all running the
 * same variant (the whole model, the chain of segments, or the whole model plus one pass-through
 * run per cut: the floor) back to back for a phase, as a worker with that many inference threads
 * serves a backlog. Each round runs every variant once, rotating which goes first; a variant's
 * cost is the round's whole-model throughput over its own, and figures are medians of per-round
 * ratios with quartiles. There are no operator thread pools here, so what remains of a cut is its
 * work: the extra run, its copies and the operators the cut adds.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ensureSharedArena } from '../../core/inference/shared-arena';
import type { PlainFeeds } from '../../core/inference/batch-encoding';
import type { ModelSegment } from '../../core/onnx/slicing';
import { spread, type Spread } from './timed-rounds';
import type { FromLane, LaneSetup, LaneVariant, ToLane } from './lane-protocol';

const ENTRY = join(__dirname, 'lane-thread.js');
const VARIANTS: readonly LaneVariant[] = ['whole', 'chained', 'floor'];

export interface LaneFigures {
  readonly lanes: number;
  readonly phaseMs: number;
  readonly rounds: number;
  /** Batches per second of all lanes together, per variant. */
  readonly batchesPerSecond: Readonly<Record<LaneVariant, Spread>>;
  /** Per-round whole-model throughput over the variant's: 1.03 = the variant costs 3% more. */
  readonly chainedCost: Spread;
  readonly floorCost: Spread;
}

function ask(worker: Worker, message: ToLane): Promise<FromLane> {
  return new Promise((resolve, reject) => {
    worker.once('message', (answer: FromLane) => {
      worker.off('error', reject);
      resolve(answer);
    });
    worker.once('error', reject);
    worker.postMessage(message);
  });
}

function startLane(setup: LaneSetup): Promise<Worker> {
  // Before the thread starts, so that its sessions share this process's arena (shared-arena.ts).
  ensureSharedArena();
  return new Promise((resolve, reject) => {
    const worker = new Worker(ENTRY, { workerData: setup, execArgv: [] });
    worker.once('message', () => resolve(worker));
    worker.once('error', reject);
  });
}

export async function laneRounds(
  whole: Uint8Array,
  segments: readonly ModelSegment[],
  floors: readonly Uint8Array[],
  feeds: PlainFeeds,
  boundary: readonly PlainFeeds[],
  options: { readonly lanes: number; readonly rounds: number; readonly phaseMs: number },
): Promise<LaneFigures> {
  const setup: LaneSetup = {
    whole,
    segments: segments.map((segment) => ({
      bytes: segment.bytes,
      inputs: segment.inputs,
      outputs: segment.outputs,
    })),
    floors,
    feeds,
    boundary,
  };
  const workers: Worker[] = [];
  try {
    for (let i = 0; i < options.lanes; i++) workers.push(await startLane(setup));
    const rates: Record<LaneVariant, number[]> = { whole: [], chained: [], floor: [] };
    for (let round = 0; round < options.rounds; round++) {
      for (let k = 0; k < VARIANTS.length; k++) {
        const variant = VARIANTS[(k + round) % VARIANTS.length] as LaneVariant;
        const answers = await Promise.all(workers.map((w) => ask(w, { variant, ms: options.phaseMs })));
        rates[variant].push(answers.reduce((sum, a) => sum + (1000 * a.batches) / a.elapsedMs, 0));
      }
    }
    const cost = (variant: LaneVariant) => rates.whole.map((w, i) => w / (rates[variant][i] as number));
    return {
      lanes: options.lanes,
      phaseMs: options.phaseMs,
      rounds: options.rounds,
      batchesPerSecond: {
        whole: spread(rates.whole),
        chained: spread(rates.chained),
        floor: spread(rates.floor),
      },
      chainedCost: spread(cost('chained')),
      floorCost: spread(cost('floor')),
    };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
