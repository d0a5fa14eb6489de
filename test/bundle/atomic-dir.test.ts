import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeDirectoryAtomically } from '../../core/bundle/atomic-dir';

describe('writeDirectoryAtomically', () => {
  let work: string;
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'apparate-atomic-'));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  it('moves a completely written directory into place', async () => {
    const target = join(work, 'bundle');
    await writeDirectoryAtomically(target, async (dir) => {
      await import('node:fs/promises').then((fs) => fs.writeFile(join(dir, 'manifest.json'), '{}'));
    });
    expect(readFileSync(join(target, 'manifest.json'), 'utf8')).toBe('{}');
    expect(readdirSync(work)).toEqual(['bundle']);
  });

  it('leaves nothing behind when writing fails', async () => {
    const target = join(work, 'bundle');
    await expect(
      writeDirectoryAtomically(target, () => Promise.reject(new Error('disk full'))),
    ).rejects.toThrow('disk full');
    expect(readdirSync(work)).toEqual([]);
  });

  it('leaves nothing behind when interrupted with Ctrl-C mid-write', async () => {
    // Given a process writing a bundle that has started filling it
    const target = join(work, 'bundle');
    const child = spawn(
      process.execPath,
      ['-r', 'tsx/cjs', join(__dirname, 'fixtures', 'slow-fill.ts'), target],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    expect(readdirSync(work).some((name) => name.includes('.partial-'))).toBe(true);

    // When it receives SIGINT
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');

    // Then it exits with the interrupted status and neither the bundle nor its partial copy remains
    expect(await exited).toBe(130);
    expect(existsSync(target)).toBe(false);
    expect(readdirSync(work)).toEqual([]);
  });
});
