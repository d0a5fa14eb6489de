import { execFileSync } from 'node:child_process';
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
  mkdirSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../core/errors';
import { parseTraceText, readTrace } from '../../core/workload/trace';

describe('reading arrival-rate traces', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'apparate-trace-'));
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /** Packs `files` (name → text) into a bzip2 tarball with the real tar, as the shared trace is packed. */
  function tarball(name: string, files: Record<string, string>): string {
    const source = join(dir, `${name}-contents`);
    mkdirSync(source);
    for (const [file, text] of Object.entries(files)) writeFileSync(join(source, file), text);
    const archive = join(dir, name);
    execFileSync('tar', ['-cjf', archive, '-C', source, ...Object.keys(files)]);
    return archive;
  }

  it('parses a plain-text trace with any whitespace between counts', async () => {
    const path = join(dir, 'plain.txt');
    writeFileSync(path, '3 0 12\n\t7\r\n  1 ');

    const counts = await readTrace(path, { cacheDir: false });

    expect(Array.from(counts)).toEqual([3, 0, 12, 7, 1]);
  });

  it('parses a .tbz2 trace by streaming its single file out of tar', async () => {
    const archive = tarball('small.tbz2', { 'workload.txt': '5 6 7 8 9 10' });

    expect(Array.from(await readTrace(archive, { cacheDir: false }))).toEqual([5, 6, 7, 8, 9, 10]);
  });

  it('treats .tar.bz2 as an archive too, and reads numbers split across stream chunks', async () => {
    const numbers = Array.from({ length: 100_000 }, (_, i) => (i * 7919) % 1000);
    const archive = tarball('large.tar.bz2', { 'w.txt': numbers.join(' ') });

    const counts = await readTrace(archive, { cacheDir: false });

    expect(counts).toHaveLength(numbers.length);
    expect(Array.from(counts)).toEqual(numbers);
  });

  it('refuses an archive that does not hold exactly one file', async () => {
    const archive = tarball('two.tbz2', { 'a.txt': '1 2', 'b.txt': '3 4' });

    await expect(readTrace(archive, { cacheDir: false })).rejects.toThrow(
      /holds 2 files; it must hold exactly one trace file/,
    );
  });

  it('refuses a file named like an archive that is not one', async () => {
    const path = join(dir, 'fake.tbz2');
    writeFileSync(path, '1 2 3');

    await expect(readTrace(path, { cacheDir: false })).rejects.toThrow(/cannot be read as a bzip2 tarball/);
  });

  it('says a missing trace does not exist', async () => {
    const missing = join(dir, 'nowhere.txt');

    await expect(readTrace(missing, { cacheDir: false })).rejects.toThrow(InputError);
    await expect(readTrace(missing, { cacheDir: false })).rejects.toThrow(
      `trace file ${missing} does not exist`,
    );
  });

  it('names the line and column of a token that is not a non-negative integer', () => {
    expect(() => parseTraceText('1 2 3\n4 -5 6', 'bad.txt')).toThrow(
      'trace bad.txt, line 2, column 3: "-5" is not a non-negative integer; a trace holds whitespace-separated non-negative integers, one per second',
    );
    expect(() => parseTraceText('1 2.5')).toThrow(/line 1, column 3: "2.5" is not/);
    expect(() => parseTraceText('7 12abc 3')).toThrow(/"12abc" is not/);
    expect(() => parseTraceText('99999999999')).toThrow(/"99999999999" is larger than 4294967295/);
  });

  it('reports a bad token inside a tarball with its position', async () => {
    const archive = tarball('bad.tbz2', { 'workload.txt': '1 2\n3 x 5' });

    await expect(readTrace(archive, { cacheDir: false })).rejects.toThrow(/line 2, column 3: "x"/);
  });

  it('refuses a trace with no counts', async () => {
    const path = join(dir, 'empty.txt');
    writeFileSync(path, ' \n\n ');

    await expect(readTrace(path, { cacheDir: false })).rejects.toThrow(/holds no counts/);
    expect(() => parseTraceText('')).toThrow(InputError);
  });

  it('caches a parse keyed by the file, and parses again once the file changes', async () => {
    // Given a trace read once with a cache folder
    const path = join(dir, 'cached.txt');
    writeFileSync(path, '4 5 6');
    const cacheDir = join(dir, 'cache');
    expect(Array.from(await readTrace(path, { cacheDir }))).toEqual([4, 5, 6]);
    const [cacheFile, ...others] = readdirSync(cacheDir);
    expect(others).toEqual([]);

    // When the cached values are tampered with, the next read returns them: the cache was used
    const cachePath = join(cacheDir, cacheFile as string);
    const bytes = readFileSync(cachePath);
    bytes.writeUInt32LE(40, 16);
    writeFileSync(cachePath, bytes);
    expect(Array.from(await readTrace(path, { cacheDir }))).toEqual([40, 5, 6]);

    // Then a change to the trace's modification time makes it parse the file again
    utimesSync(path, new Date(), new Date(Date.now() + 60_000));
    expect(Array.from(await readTrace(path, { cacheDir }))).toEqual([4, 5, 6]);
  });

  it('ignores a corrupt cache file and parses the trace instead', async () => {
    const path = join(dir, 'corrupt-cache.txt');
    writeFileSync(path, '8 9');
    const cacheDir = join(dir, 'corrupt-cache');
    await readTrace(path, { cacheDir });
    const cachePath = join(cacheDir, readdirSync(cacheDir)[0] as string);
    writeFileSync(cachePath, readFileSync(cachePath).subarray(0, 18));

    expect(Array.from(await readTrace(path, { cacheDir }))).toEqual([8, 9]);
  });
});
