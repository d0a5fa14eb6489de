/**
 * `--inference-threads N --intra-op-threads M`, as the benchmarks that start workers read them: the
 * worker's thread layout (see gpu-worker/thread-layout.ts). Absent flags keep the worker's CPU
 * defaults (one single-threaded lane per core, up to four).
 */
import { resolveThreadLayout, type ThreadLayout } from '../gpu-worker';

export function threadLayoutArgs(args: readonly string[]): ThreadLayout {
  const read = (flag: string, min: number): number | undefined => {
    const at = args.indexOf(flag);
    if (at < 0) return undefined;
    const value = Number(args[at + 1]);
    if (!Number.isInteger(value) || value < min || value > 64) {
      throw new Error(`${flag} must be a whole number from ${min} to 64, got ${String(args[at + 1])}`);
    }
    return value;
  };
  const inferenceThreads = read('--inference-threads', 1);
  const intraOpThreads = read('--intra-op-threads', 0);
  return {
    ...(inferenceThreads === undefined ? {} : { inferenceThreads }),
    ...(intraOpThreads === undefined ? {} : { intraOpThreads }),
  };
}

/** The layout a CPU worker runs with these flags, as reports print it (0 operator threads = all cores). */
export function describeLayout(layout: ThreadLayout): Required<ThreadLayout> {
  return resolveThreadLayout(layout, 'cpu');
}
