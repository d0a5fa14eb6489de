/**
 * Rerunning a benchmark must leave the checkout clean: its outputs go to folders git ignores, and
 * the runs the docs cite live under docs/, changed only on purpose.
 */
import { execFileSync } from 'node:child_process';
import { join, relative, resolve } from 'node:path';
import { DEFAULT_OUT_DIR } from '../../bench/eval/settings';
import { RESULTS_DIR } from '../../bench/run';

const ROOT = resolve(__dirname, '..', '..');

function git(...args: string[]): string {
  return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' });
}

/** Whether git ignores `path` (exit code 0 of `git check-ignore`). */
function ignored(path: string): boolean {
  try {
    git('check-ignore', '--quiet', '--no-index', relative(ROOT, path));
    return true;
  } catch {
    return false;
  }
}

describe('where benchmark outputs go', () => {
  it.each([
    ['every benchmark’s JSON record', join(RESULTS_DIR, 'tuner.json')],
    ['the end-to-end evaluation’s default output', join(DEFAULT_OUT_DIR, 'summary.json')],
  ])('%s lands in a folder git ignores', (_what, path) => {
    expect(ignored(path)).toBe(true);
  });

  it('tracks no file under the results folder; the cited runs are under docs/', () => {
    expect(git('ls-files', relative(ROOT, RESULTS_DIR)).trim()).toBe('');
    expect(git('ls-files', 'docs/benchmarks').trim().split('\n')).toEqual(
      expect.arrayContaining(['docs/benchmarks/tuner.json', 'docs/benchmarks/slicing.json']),
    );
  });
});
