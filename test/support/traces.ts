/**
 * Locates the shared arrival-rate traces. They live beside the checkout (`../shared/data/traces`)
 * on every developer and CI machine and are never copied into the repository.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

const CANDIDATE_DIRS = [
  process.env.APPARATE_TRACES_DIR,
  resolve(__dirname, '..', '..', '..', 'shared', 'data', 'traces'),
  '/work/shared/data/traces',
].filter((dir): dir is string => typeof dir === 'string');

/** Path of a shared trace file; throws naming the places searched when it is absent. */
export function sharedTrace(file = 'twitter-2021-08.tbz2'): string {
  for (const dir of CANDIDATE_DIRS) {
    const path = join(dir, file);
    if (existsSync(path)) return path;
  }
  throw new Error(`trace ${file} not found in ${CANDIDATE_DIRS.join(', ')}; set APPARATE_TRACES_DIR`);
}
