/**
 * Arrival-rate traces: how many requests reached a real service in each second, replayed as load
 * by simulations and benchmarks. A trace file holds whitespace-separated non-negative integers,
 * one per second in time order, as plain text or as a bzip2 tarball holding that one text file.
 *
 * The shared Twitter trace (`../shared/data/traces/twitter-2021-08.tbz2` from the repository root),
 * as measured here: one 5.8 MB line of 1,899,061 counts (about 22 days); mean 63.6, median 53,
 * min 0, max 388 requests/s; 37,899 zero seconds in 63 runs, the longest 1,740 s, the first at
 * second 84,661 — gaps in the collection rather than quiet periods, hence `skipZeroGaps`.
 *
 * Decompressing and parsing that file took 1–2.5 s here (two shared cores), reading the cache about
 * 50 ms, so parsed counts are cached as a binary file keyed by the source's path, size and
 * modification time.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { InputError } from '../errors';

/** Where parsed traces are cached unless told otherwise: `.cache/traces/` at the repository root (git-ignored). */
export const DEFAULT_TRACE_CACHE_DIR = resolve(__dirname, '..', '..', '.cache', 'traces');

/** The most requests one second may hold, so that counts fit a Uint32Array. */
export const MAX_COUNT_PER_SECOND = 0xffffffff;

const FORMAT_HINT = 'a trace holds whitespace-separated non-negative integers, one per second';
const CACHE_MAGIC = 'APTRACE1';
const CACHE_HEADER_BYTES = 16;

export interface ReadTraceOptions {
  /** Folder for cached parses; `false` neither reads nor writes a cache. @default DEFAULT_TRACE_CACHE_DIR */
  readonly cacheDir?: string | false;
}

/**
 * Reads a trace (plain text, or `.tbz2` / `.tar.bz2` holding one file) into per-second counts.
 * Throws InputError for a missing file, an archive that does not hold exactly one file, a token
 * that is not a non-negative integer (naming its line and column) and a trace with no counts.
 */
export async function readTrace(path: string, options: ReadTraceOptions = {}): Promise<Uint32Array> {
  const absolutePath = resolve(path);
  let size: number;
  let mtimeMs: number;
  try {
    const stats = await stat(absolutePath);
    if (!stats.isFile()) throw new InputError(`trace ${path} is not a file; give a trace file's path`);
    ({ size, mtimeMs } = stats);
  } catch (cause) {
    if (cause instanceof InputError) throw cause;
    const code = (cause as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? String(cause)})`;
    throw new InputError(`trace file ${path} ${reason}`, { cause });
  }
  const cacheDir = options.cacheDir ?? DEFAULT_TRACE_CACHE_DIR;
  const cacheFile =
    cacheDir === false ? undefined : resolve(cacheDir, cacheFileName(absolutePath, size, mtimeMs));
  if (cacheFile !== undefined) {
    const cached = await readCache(cacheFile);
    if (cached !== undefined) return cached;
  }
  const parser = new TraceParser(path);
  if (isArchive(absolutePath)) await parseArchive(absolutePath, path, parser);
  else await parseStream(createReadStream(absolutePath), parser);
  const counts = parser.finish();
  if (cacheFile !== undefined) await writeCache(cacheFile, counts);
  return counts;
}

/** Parses trace text already in memory; `source` names it in error messages. */
export function parseTraceText(text: string, source = 'text'): Uint32Array {
  const parser = new TraceParser(source);
  parser.push(Buffer.from(text, 'utf8'));
  return parser.finish();
}

export interface TraceWindowOptions {
  /**
   * Leave out seconds with no requests and extend the window past them, so the replay lasts the
   * requested number of seconds of real traffic. @default false
   */
  readonly skipZeroGaps?: boolean;
}

/**
 * A copy of `seconds` consecutive counts starting at `startSecond`, so a replay can use part of a
 * long trace. Throws InputError when the window does not fit the trace.
 */
export function traceWindow(
  counts: ArrayLike<number>,
  startSecond: number,
  seconds: number,
  options: TraceWindowOptions = {},
): Uint32Array {
  if (!Number.isSafeInteger(startSecond) || startSecond < 0 || startSecond >= counts.length) {
    throw new InputError(
      `trace window start must be an integer second from 0 to ${counts.length - 1}, got ${startSecond}`,
    );
  }
  if (!Number.isSafeInteger(seconds) || seconds < 1) {
    throw new InputError(`trace window length must be a positive integer number of seconds, got ${seconds}`);
  }
  const window = new Uint32Array(seconds);
  if (options.skipZeroGaps !== true) {
    if (startSecond + seconds > counts.length) {
      throw new InputError(
        `a ${seconds} s trace window from second ${startSecond} runs past the trace's end (${counts.length} s); start at ${counts.length - seconds} or earlier`,
      );
    }
    for (let i = 0; i < seconds; i++) window[i] = counts[startSecond + i] as number;
    return window;
  }
  let filled = 0;
  for (let second = startSecond; second < counts.length && filled < seconds; second++) {
    const count = counts[second] as number;
    if (count > 0) window[filled++] = count;
  }
  if (filled < seconds) {
    throw new InputError(
      `only ${filled} seconds with requests remain from second ${startSecond}, fewer than the ${seconds} asked for; start earlier or ask for fewer`,
    );
  }
  return window;
}

function isArchive(path: string): boolean {
  return /\.(tbz2|tar\.bz2)$/i.test(path);
}

/**
 * Streams the archive's one file out of `tar` instead of extracting it to disk. The archive is also
 * listed, because `tar -O` would silently run several files' numbers together; both passes
 * decompress the whole archive, so they run side by side.
 */
async function parseArchive(absolutePath: string, shownPath: string, parser: TraceParser): Promise<void> {
  const [listing, extraction] = await Promise.allSettled([
    countArchivedFiles(absolutePath, shownPath),
    extractInto(absolutePath, shownPath, parser),
  ]);
  if (listing.status === 'rejected') throw listing.reason;
  if (listing.value !== 1) {
    throw new InputError(
      `trace archive ${shownPath} holds ${listing.value} files; it must hold exactly one trace file`,
    );
  }
  if (extraction.status === 'rejected') throw extraction.reason;
}

async function countArchivedFiles(absolutePath: string, shownPath: string): Promise<number> {
  let listing: string;
  try {
    ({ stdout: listing } = await promisify(execFile)('tar', ['-tjf', absolutePath], { encoding: 'utf8' }));
  } catch (cause) {
    const output = (cause as { stderr?: unknown }).stderr;
    const stderr = typeof output === 'string' ? output.trim() : '';
    throw new InputError(
      `trace archive ${shownPath} cannot be read as a bzip2 tarball${stderr === '' ? '' : `: ${stderr}`}`,
      { cause },
    );
  }
  return listing.split('\n').filter((entry) => entry !== '' && !entry.endsWith('/')).length;
}

async function extractInto(absolutePath: string, shownPath: string, parser: TraceParser): Promise<void> {
  const child = spawn('tar', ['-xjOf', absolutePath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => (stderr += text));
  const exited = new Promise<number | null>((resolveExit, rejectExit) => {
    child.once('error', rejectExit);
    child.once('close', resolveExit);
  });
  try {
    await parseStream(child.stdout, parser);
  } catch (error) {
    child.kill();
    await exited.catch(() => undefined);
    throw error;
  }
  const code = await exited;
  if (code !== 0) {
    throw new InputError(
      `trace archive ${shownPath} could not be extracted (tar exit ${code}): ${stderr.trim()}`,
    );
  }
}

async function parseStream(stream: Readable, parser: TraceParser): Promise<void> {
  for await (const chunk of stream) parser.push(chunk as Buffer);
}

function cacheFileName(absolutePath: string, size: number, mtimeMs: number): string {
  const key = createHash('sha256')
    .update(JSON.stringify([CACHE_MAGIC, absolutePath, size, mtimeMs]))
    .digest('hex')
    .slice(0, 24);
  return `${basename(absolutePath).replace(/[^A-Za-z0-9._-]/g, '_')}-${key}.u32`;
}

/** A cache file that is missing, truncated or of another format is a miss, never an error. */
async function readCache(file: string): Promise<Uint32Array | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch {
    return undefined;
  }
  if (bytes.length < CACHE_HEADER_BYTES || bytes.toString('latin1', 0, 8) !== CACHE_MAGIC) return undefined;
  const length = bytes.readUInt32LE(8);
  if (length === 0 || bytes.length !== CACHE_HEADER_BYTES + 4 * length) return undefined;
  const counts = new Uint32Array(length);
  for (let i = 0; i < length; i++) counts[i] = bytes.readUInt32LE(CACHE_HEADER_BYTES + 4 * i);
  return counts;
}

/**
 * Writes through a temporary file and a rename, so a reader running at the same time sees the
 * whole cache or none. A cache that cannot be written only costs the next run a re-parse.
 */
async function writeCache(file: string, counts: Uint32Array): Promise<void> {
  const bytes = Buffer.alloc(CACHE_HEADER_BYTES + 4 * counts.length);
  bytes.write(CACHE_MAGIC, 0, 'latin1');
  bytes.writeUInt32LE(counts.length, 8);
  for (let i = 0; i < counts.length; i++)
    bytes.writeUInt32LE(counts[i] as number, CACHE_HEADER_BYTES + 4 * i);
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await mkdir(dirname(file), { recursive: true });
    await writeFile(temporary, bytes);
    await rename(temporary, file);
  } catch {
    await rm(temporary, { force: true }).catch(() => undefined);
  }
}

const ZERO = 0x30;
const NINE = 0x39;
const NEWLINE = 0x0a;
const MAX_SHOWN_TOKEN_BYTES = 40;

function isWhitespace(byte: number): boolean {
  return byte === 0x20 || (byte >= 0x09 && byte <= 0x0d);
}

/**
 * A byte-at-a-time tokenizer, so that chunks from a stream can split a number anywhere and a bad
 * token is still reported whole with the line and column where it starts.
 */
class TraceParser {
  private counts = new Uint32Array(1 << 16);
  private length = 0;
  private line = 1;
  private column = 0;
  private inToken = false;
  private value = 0;
  private valid = true;
  private tokenLine = 0;
  private tokenColumn = 0;
  private readonly tokenBytes = new Uint8Array(MAX_SHOWN_TOKEN_BYTES);
  private tokenByteCount = 0;

  constructor(private readonly source: string) {}

  push(chunk: Uint8Array): void {
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i] as number;
      this.column++;
      if (isWhitespace(byte)) {
        if (this.inToken) this.endToken();
        if (byte === NEWLINE) {
          this.line++;
          this.column = 0;
        }
        continue;
      }
      if (!this.inToken) {
        this.inToken = true;
        this.value = 0;
        this.valid = true;
        this.tokenLine = this.line;
        this.tokenColumn = this.column;
        this.tokenByteCount = 0;
      }
      if (this.tokenByteCount < MAX_SHOWN_TOKEN_BYTES) this.tokenBytes[this.tokenByteCount++] = byte;
      if (byte >= ZERO && byte <= NINE) {
        if (this.value <= MAX_COUNT_PER_SECOND) this.value = this.value * 10 + (byte - ZERO);
      } else {
        this.valid = false;
      }
    }
  }

  finish(): Uint32Array {
    if (this.inToken) this.endToken();
    if (this.length === 0) throw new InputError(`trace ${this.source} holds no counts; ${FORMAT_HINT}`);
    return this.counts.slice(0, this.length);
  }

  private endToken(): void {
    this.inToken = false;
    if (!this.valid || this.value > MAX_COUNT_PER_SECOND) {
      const shown = Buffer.from(this.tokenBytes.subarray(0, this.tokenByteCount)).toString('utf8');
      const what = this.valid
        ? `is larger than ${MAX_COUNT_PER_SECOND}, the most requests a second may hold`
        : 'is not a non-negative integer';
      throw new InputError(
        `trace ${this.source}, line ${this.tokenLine}, column ${this.tokenColumn}: ${JSON.stringify(shown)} ${what}; ${FORMAT_HINT}`,
      );
    }
    if (this.length === this.counts.length) {
      const grown = new Uint32Array(this.counts.length * 2);
      grown.set(this.counts);
      this.counts = grown;
    }
    this.counts[this.length++] = this.value;
  }
}
