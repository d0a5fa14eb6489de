/**
 * Prepared fixture bundles shared by every test file of a run. Preparing a fixture takes 20–90 s
 * depending on the machine, and some twenty test files need the same deterministic bundle, so it
 * is kept in the temporary directory under a hash of everything it depends on (the model files,
 * the project's core sources and the test support that shapes the profile); a cached bundle is
 * reused only while it is what preparing now would give. Two test files that start together may
 * both prepare it once; entries are written atomically, so neither ever reads half of one.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { readBundle, writeBundle, type LoadedBundle, type PreparedBundle } from '../../core/bundle/bundle-io';
import { ZOO_MODELS_DIR } from '../../core/zoo/fixtures';

const ROOT = join(__dirname, '..', '..');

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

/** A hash of the fixture's model files, the core sources and this support folder. */
function preparationKey(name: string): string {
  const hash = createHash('sha256');
  const inputs = [
    ...filesUnder(join(ZOO_MODELS_DIR, name)),
    ...filesUnder(join(ROOT, 'core')),
    ...filesUnder(__dirname),
  ].sort();
  for (const file of inputs) hash.update(file).update(readFileSync(file));
  return hash.digest('hex').slice(0, 16);
}

/** The fixture's cached bundle, or `prepare`'s, written to the cache first. */
export async function cachedFixtureBundle(
  name: string,
  prepare: () => Promise<PreparedBundle>,
): Promise<LoadedBundle> {
  const dir = join(tmpdir(), 'apparate-fixture-bundles', `${name}-${preparationKey(name)}`);
  if (existsSync(join(dir, 'manifest.json'))) {
    try {
      return await readBundle(dir);
    } catch {
      // A damaged entry is prepared again below, into a fresh directory.
    }
  }
  const prepared = await prepare();
  const fresh = join(mkdtempSync(join(tmpdir(), `apparate-fixture-${name}-`)), 'bundle');
  await writeBundle(fresh, prepared);
  try {
    mkdirSync(dirname(dir), { recursive: true });
    renameSync(fresh, dir);
    return await readBundle(dir);
  } catch {
    // Another test file cached it first (or the cache is not writable): use this one.
    return await readBundle(fresh);
  }
}
