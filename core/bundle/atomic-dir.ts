/**
 * Creating a directory atomically: its contents are written into a hidden sibling and renamed
 * into place only when complete, so a failure, a crash or Ctrl-C never leaves a half-written
 * bundle where a worker might load it. An existing destination is refused rather than replaced:
 * bundles are referenced by path from configs, and silently swapping one is never what a user wants.
 */
import { existsSync, rmSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { InputError } from '../errors';

/** Throws InputError if `dir` exists; call before long work so users learn early. */
export function assertFreshDestination(dir: string): void {
  if (existsSync(dir)) {
    throw new InputError(`output directory ${dir} already exists; choose a new path or remove it first`);
  }
}

/** Writes a directory via `fill(tempDir)` and renames it to `dir` once `fill` has succeeded. */
export async function writeDirectoryAtomically(
  dir: string,
  fill: (tempDir: string) => Promise<void>,
): Promise<void> {
  const target = resolve(dir);
  assertFreshDestination(target);
  await mkdir(dirname(target), { recursive: true });
  const temp = join(dirname(target), `.${basename(target)}.partial-${process.pid}-${Date.now()}`);
  const cleanUp = () => rmSync(temp, { recursive: true, force: true });
  // Exit with the conventional 128+n status after cleaning up: re-raising the signal is not enough
  // when another listener (a loader, a progress bar) keeps the process alive.
  const onSignal = (signal: NodeJS.Signals) => {
    cleanUp();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // Any other way out of the process (process.exit elsewhere, an emptied event loop) cleans up too.
  process.once('exit', cleanUp);
  try {
    await mkdir(temp);
    await fill(temp);
    assertFreshDestination(target);
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    throw error;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('exit', cleanUp);
  }
}
