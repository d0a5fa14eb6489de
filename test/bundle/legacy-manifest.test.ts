/**
 * Bundles prepared by earlier versions keep loading: manifests from before the model without ramps
 * was called "plain" name its timings `vanillaMs`, and reading them gives `plainMs`; manifests from
 * before held-out exit shares were measured have none, and read without them.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readBundle } from '../../core/bundle/bundle-io';
import { workerFixture } from '../worker/worker-fixtures';

describe('a bundle manifest written before the plain rename', () => {
  let work: string;
  let source: string;
  let expectedMs: readonly number[];

  beforeAll(async () => {
    const fixture = await workerFixture('mnist-resnet');
    expectedMs = fixture.bundle.manifest.profile.plainMs;
    work = mkdtempSync(join(tmpdir(), 'apparate-legacy-manifest-'));
    source = fixture.bundle.dir;
    cpSync(source, join(work, 'bundle'), { recursive: true });
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

  it('reads a manifest without held-out exit shares, which a current preparation records for every candidate', async () => {
    cpSync(source, join(work, 'bundle'), { recursive: true });
    const path = join(work, 'bundle', 'manifest.json');
    const current = JSON.parse(readFileSync(path, 'utf8')) as {
      candidates: { ramp: Record<string, unknown> }[];
    };
    for (const candidate of current.candidates) {
      expect(candidate.ramp.heldOutExitShare).toBeGreaterThanOrEqual(0);
      expect(candidate.ramp.heldOutExitShare).toBeLessThanOrEqual(1);
    }
    const older = {
      ...current,
      candidates: current.candidates.map((c) => {
        const ramp = { ...c.ramp };
        delete ramp.heldOutExitShare;
        return { ...c, ramp };
      }),
    };
    writeFileSync(path, JSON.stringify(older));
    const bundle = await readBundle(join(work, 'bundle'));
    expect(bundle.manifest.candidates.map((c) => c.ramp.heldOutExitShare)).toEqual(
      current.candidates.map(() => undefined),
    );
  });
});
