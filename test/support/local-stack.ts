/**
 * The local stack as the tests start it: on a free port, in memory, with the bundles a test names
 * (never the bundle cache), the controller's timer out of the way (an hour), a 50 ms config poll,
 * a 0.99 constraint and a 0.02 ramp budget, one preparation repeat, and nothing printed. A test
 * names what it is about and overrides only what it needs; every stack gets its own data folder
 * (unless given one) and a name prefix no other test file uses.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../../cli/stack/local-stack';
import { silentLogger } from '../../gpu-worker/logger';

/** A progress display that shows nothing. */
export const noProgress = { update: () => undefined, stop: () => undefined };

/** The options of a test's stack; `name` tells its data folder and its queues from other tests'. */
export function testStackOptions(
  name: string,
  options: Pick<LocalStackOptions, 'models'> & Partial<LocalStackOptions>,
): LocalStackOptions {
  const { dataDir = mkdtempSync(join(tmpdir(), `apparate-${name}-`)), ...rest } = options;
  return {
    host: '127.0.0.1',
    port: 0,
    dataDir,
    inMemory: true,
    bundleCacheDir: '/nonexistent',
    namePrefix: `${name}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    controllerPeriodMs: 3_600_000,
    configPollMs: 50,
    accuracyConstraint: 0.99,
    rampBudget: 0.02,
    prepareRepeats: 1,
    progress: noProgress,
    logger: silentLogger,
    ...rest,
  };
}

/** Starts a test's stack with `testStackOptions`. */
export function startTestStack(
  name: string,
  options: Pick<LocalStackOptions, 'models'> & Partial<LocalStackOptions>,
): Promise<LocalStack> {
  return startLocalStack(testStackOptions(name, options));
}
