/**
 * The benchmark dispatcher. Benchmarks compare against a baseline measured in the same run and
 * report medians over repeats (ratios, not absolute timings), print a table and write JSON under
 * `bench/results/`, because absolute numbers on shared machines say little on their own. That
 * folder is ignored by git: a rerun must not rewrite tracked files. The runs the docs cite are
 * copied to `docs/benchmarks/` by hand, beside the text that quotes them.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { apiBenchmark } from './api';
import { e2eBenchmark } from './e2e';
import { fleetBenchmark } from './fleet';
import { fleetProfileBenchmark } from './fleet-profile';
import { generateBenchmark } from './generate';
import { slicingBenchmark } from './slicing';
import { tunerBenchmark } from './tuner';
import { workerBenchmark } from './worker';

export interface Benchmark {
  readonly name: string;
  readonly summary: string;
  /** Its flags, one line from `usage: npm run bench -- <name>`; `--help` prints it and runs nothing. */
  readonly usage: string;
  /** Runs the benchmark, prints its table, and returns the JSON record to store. */
  run(args: readonly string[]): Promise<unknown>;
}

const BENCHMARKS: readonly Benchmark[] = [
  slicingBenchmark,
  tunerBenchmark,
  workerBenchmark,
  e2eBenchmark,
  apiBenchmark,
  fleetProfileBenchmark,
  fleetBenchmark,
  generateBenchmark,
];
export const RESULTS_DIR = join(__dirname, 'results');

export async function runBenchmark(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  const benchmark = BENCHMARKS.find((b) => b.name === name);
  if (!benchmark) {
    const known = BENCHMARKS.map((b) => `${b.name} (${b.summary})`).join(', ');
    process.stderr.write(
      `bench: ${name === undefined ? 'no benchmark named' : `unknown benchmark "${name}"`}; allowed: ${known}\n`,
    );
    return 2;
  }
  // Several benchmarks take minutes and would otherwise ignore the flag and start measuring.
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${benchmark.usage}\n${benchmark.summary}\n`);
    return 0;
  }
  const record = await benchmark.run(rest);
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${benchmark.name}.json`);
  await writeFile(file, `${JSON.stringify(record, null, 2)}\n`);
  process.stdout.write(`\nwrote ${file}\n`);
  return 0;
}
