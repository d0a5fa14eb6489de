/**
 * `npm run bench -- <name> --help` prints what the benchmark takes and measures nothing: several
 * benchmarks run for minutes and would otherwise take the flag for one they ignore.
 */
import { runBenchmark } from '../../bench/run';

function captureStdout(run: () => Promise<number>): Promise<{ code: number; text: string }> {
  const written: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  };
  return run()
    .then((code) => ({ code, text: written.join('') }))
    .finally(() => {
      process.stdout.write = write;
    });
}

describe('npm run bench -- <name> --help', () => {
  it.each(['slicing', 'tuner', 'worker', 'e2e', 'api', 'fleet-profile', 'fleet', 'generate'])(
    'prints the usage of %s and runs nothing',
    async (name) => {
      // When a benchmark is asked for help
      const { code, text } = await captureStdout(() => runBenchmark([name, '--help']));
      // Then it exits cleanly with its usage line and summary, and wrote no results
      expect(code).toBe(0);
      expect(text).toMatch(new RegExp(`^usage: npm run bench -- ${name}( |$)`));
      expect(text).not.toMatch(/wrote .*results/);
      expect(text.trim().split('\n')).toHaveLength(2);
    },
  );
});
