/**
 * Starting `apparate worker` as a real process for tests: the executable under `bin/`, its stdout
 * and stderr split into lines as they arrive, and helpers to wait for a line or for the exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'apparate.js');

export interface WorkerProcess {
  readonly child: ChildProcess;
  /** Lines written to stdout so far (answers, EMF lines). */
  readonly stdout: string[];
  /** Lines written to stderr so far (structured logs). */
  readonly stderr: string[];
  /** The exit code, or null when killed by a signal. */
  readonly exited: Promise<number | null>;
  /** Resolves with the first stderr log line (parsed) whose message is `message`. */
  logLine(message: string, timeoutMs?: number): Promise<Record<string, unknown>>;
}

function splitLines(stream: NodeJS.ReadableStream | null, into: string[]): void {
  let partial = '';
  stream?.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString('utf8')).split('\n');
    partial = parts.pop() ?? '';
    into.push(...parts.filter((line) => line.length > 0));
  });
}

/** Polls `check` every 25 ms until it holds, failing after `timeoutMs` with `what` in the message. */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 25));
  }
}

/** Starts `apparate worker <args>` in the repository root. */
export function startWorkerProcess(args: readonly string[]): WorkerProcess {
  const child = spawn(process.execPath, [BIN, 'worker', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  splitLines(child.stdout, stdout);
  splitLines(child.stderr, stderr);
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const find = (message: string): Record<string, unknown> | undefined => {
    for (const line of stderr) {
      if (!line.includes(`"${message}"`)) continue;
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (parsed['message'] === message) return parsed;
    }
    return undefined;
  };
  const logLine = async (message: string, timeoutMs = 60_000): Promise<Record<string, unknown>> => {
    let exitCode: number | null | undefined;
    void exited.then((code) => (exitCode = code));
    await until(
      `log line "${message}"`,
      () => {
        if (exitCode !== undefined && find(message) === undefined) {
          throw new Error(`worker exited (${exitCode}) before "${message}": ${stderr.slice(-5).join('\n')}`);
        }
        return find(message) !== undefined;
      },
      timeoutMs,
    );
    return find(message) as Record<string, unknown>;
  };
  return { child, stdout, stderr, exited, logLine };
}
