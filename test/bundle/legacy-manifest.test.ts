/**
 * Bundles prepared before the model without ramps was called "plain" keep loading: their
 * manifests name the plain model's timings `vanillaMs`, and reading them gives `plainMs`.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readBundle } from '../../core/bundle/bundle-io';
import { workerFixture } from '../worker/worker-fixtures';

describe('a bundle manifest written before the plain rename', () => {
  let work: string;
  let expectedMs: readonly number[];

  beforeAll(async () => {
    const fixture = await workerFixture('mnist-resnet');
    expectedMs = fixture.bundle.manifest.profile.plainMs;
    work = mkdtempSync(join(tmpdir(), 'apparate-legacy-manifest-'));
    cpSync(fixture.bundle.dir, join(work, 'bundle'), { recursive: true });
  }, 300_000);

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  /** Rewrites the copied bundle's manifest with the profile's timings under `key` (or none). */
  function withTimingsUnder(key: string | undefined): string {
    const path = join(work, 'bundle', 'manifest.json');
    const manifest = JSON.parse(readFileSync(path, 'utf8')) as { profile: Record<string, unknown> };
    const { plainMs: current, vanillaMs: old, ...profile } = manifest.profile;
    const timings = current ?? old;
    writeFileSync(
      path,
      JSON.stringify({
        ...manifest,
        profile: key === undefined ? profile : { ...profile, [key]: timings },
      }),
    );
    return join(work, 'bundle');
  }

  it('reads `vanillaMs` as `plainMs`', async () => {
    const bundle = await readBundle(withTimingsUnder('vanillaMs'));
    expect(bundle.manifest.profile.plainMs).toEqual(expectedMs);
    expect(bundle.manifest.profile).not.toHaveProperty('vanillaMs');
  });

  it('reads a current manifest unchanged', async () => {
    const bundle = await readBundle(withTimingsUnder('plainMs'));
    expect(bundle.manifest.profile.plainMs).toEqual(expectedMs);
  });

  it('refuses a manifest with neither, naming the current field', async () => {
    await expect(readBundle(withTimingsUnder(undefined))).rejects.toThrow(/plainMs/);
  });
});
