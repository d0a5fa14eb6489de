/**
 * Where the shared arrival-rate traces live. They sit beside a checkout (`../shared/data/traces`)
 * on project machines and are never copied into the repository, so tools that replay them look in
 * the known places and say which they tried when the trace is absent.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The Twitter arrival trace the evaluation and the demo replay. */
export const TWITTER_TRACE_FILE = 'twitter-2021-08.tbz2';

/** The folders searched, in order: `$APPARATE_TRACES_DIR`, beside the checkout, `/work/shared`. */
export function traceSearchDirs(): string[] {
  return [
    process.env['APPARATE_TRACES_DIR'],
    resolve(__dirname, '..', '..', '..', 'shared', 'data', 'traces'),
    '/work/shared/data/traces',
  ].filter((dir): dir is string => typeof dir === 'string' && dir.length > 0);
}

/** The trace's path, or undefined when none of the search folders holds it. */
export function locateTrace(file = TWITTER_TRACE_FILE): string | undefined {
  return traceSearchDirs()
    .map((dir) => join(dir, file))
    .find((path) => existsSync(path));
}
