/**
 * `--inference-threads N --intra-op-threads M`, as the benchmarks that start workers read them: the
 * worker's thread layout (see core/inference/thread-layout.ts), checked as the CLI checks it.
 * Absent flags keep the worker's CPU defaults (one single-threaded lane per core, up to four).
 */
import { parseArgs } from 'node:util';
import { readThreadLayout } from '../cli/stack';
import { resolveThreadLayout, type ThreadLayout } from '../gpu-worker';

export function threadLayoutArgs(args: readonly string[]): ThreadLayout {
  const { values } = parseArgs({
    args: [...args],
    options: { 'inference-threads': { type: 'string' }, 'intra-op-threads': { type: 'string' } },
    strict: false,
    allowPositionals: true,
  });
  return readThreadLayout(values);
}

/** The layout a CPU worker runs with these flags, as reports print it (0 operator threads = all cores). */
export function describeLayout(layout: ThreadLayout): Required<ThreadLayout> {
  return resolveThreadLayout(layout, 'cpu');
}
