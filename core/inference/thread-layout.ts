/**
 * How a worker spreads its sessions over the cores: how many inference threads run batches side
 * by side (each with its own sessions), and how many threads each session's operators use.
 *
 * On a CPU the default is lanes, not operator threads: one inference thread per core (up to
 * four) with one operator thread each, the cores left over shared out among them. Measured end to
 * end on two cores (docs/benchmarks.md, "Thread layout"), two lanes of one operator thread served
 * 17–45% more requests per second than one thread whose sessions used both cores, with the median
 * at a tenth of capacity within 2 ms of it: a single-threaded session never waits at a parallel
 * section for a core that the HTTP front door or the queue has taken, and a chain of segment
 * sessions pays no thread-pool wake-up at each cut. On CUDA the device does the parallel work, so
 * the default stays one inference thread.
 */
import { availableParallelism } from 'node:os';
import type { ExecutionProvider } from './onnx-session';

export interface ThreadLayout {
  /** Inference threads serving batches side by side, each with its own sessions. */
  readonly inferenceThreads?: number;
  /** Threads per operator in each session; 0 lets onnxruntime use every core. */
  readonly intraOpThreads?: number;
}

/** At most this many lanes by default: each holds a copy of the sessions. */
const MAX_DEFAULT_LANES = 4;

/** The layout a worker uses where its options leave a count unset. */
export function defaultThreadLayout(
  provider: ExecutionProvider,
  cores: number = availableParallelism(),
): Required<ThreadLayout> {
  if (provider !== 'cpu') return { inferenceThreads: 1, intraOpThreads: 0 };
  const lanes = Math.max(1, Math.min(cores, MAX_DEFAULT_LANES));
  return { inferenceThreads: lanes, intraOpThreads: Math.max(1, Math.floor(cores / lanes)) };
}

/** The layout to run: what was asked, with each unset count from the default. */
export function resolveThreadLayout(
  asked: ThreadLayout,
  provider: ExecutionProvider,
): Required<ThreadLayout> {
  const fallback = defaultThreadLayout(provider);
  return {
    inferenceThreads: asked.inferenceThreads ?? fallback.inferenceThreads,
    intraOpThreads: asked.intraOpThreads ?? fallback.intraOpThreads,
  };
}
