/**
 * `--inference-threads` and `--intra-op-threads`, shared by `worker`, `serve` and `demo`: how a
 * worker spreads its sessions over the cores (see ThreadLayout), read with the same checks.
 */
import type { ThreadLayout } from '../gpu-worker';
import type { OptionSpec } from './command';
import { numberOption } from './options';

export const THREAD_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  'inference-threads': {
    type: 'string',
    description:
      'inference threads per worker, serving batches side by side with their own sessions (default: on a CPU one per core, up to 4; on CUDA 1)',
  },
  'intra-op-threads': {
    type: 'string',
    description:
      'threads per operator in each session, 0 for every core (default: on a CPU the cores over the inference threads, rounded down; on CUDA 0)',
  },
};

/** The layout the flags give; absent flags keep the worker's defaults (see gpu-worker/thread-layout.ts). */
export function readThreadLayout(values: Record<string, unknown>): ThreadLayout {
  const count = (name: string, min: number): number | undefined =>
    values[name] === undefined
      ? undefined
      : numberOption(values, name, { default: min, min, minInclusive: true, max: 64, integer: true });
  const inferenceThreads = count('inference-threads', 1);
  const intraOpThreads = count('intra-op-threads', 0);
  return {
    ...(inferenceThreads === undefined ? {} : { inferenceThreads }),
    ...(intraOpThreads === undefined ? {} : { intraOpThreads }),
  };
}
