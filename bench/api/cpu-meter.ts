/**
 * Where a process's CPU time goes, split between its main thread and the rest. The local stack
 * runs its HTTP server, handlers, queue, answer channel and in-process table on the main thread,
 * and the model on inference threads (onnxruntime's own pools beside them), so the main thread's
 * share is what the path around the model costs and the rest is mostly the model. CPU time per
 * request is robust on a busy machine, where wall-clock rates are not: it counts what this process
 * did, not what it waited for.
 *
 * Reads Linux's per-thread counters (`/proc/self/task/<tid>/stat`); elsewhere only the process
 * total (`process.cpuUsage`) is known and the split is undefined.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** CPU time used so far, ms. */
export interface CpuSnapshot {
  readonly processMs: number;
  /** The main thread's (the event loop's); undefined where per-thread counters are unavailable. */
  readonly mainThreadMs: number | undefined;
}

/** Clock ticks per second of `/proc` counters; 100 on every Linux Node supports. */
const TICKS_PER_SECOND = 100;

/** utime + stime of one thread, ms, from its `stat` line; undefined when unreadable. */
function threadCpuMs(tid: string): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces), from field 3 (state) on.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
    return ((utime + stime) * 1000) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** This process's CPU time now. */
export function cpuSnapshot(): CpuSnapshot {
  const usage = process.cpuUsage();
  let mainThreadMs: number | undefined;
  try {
    // The main thread's id is the process id; listing the tasks checks that /proc is there.
    if (readdirSync('/proc/self/task').includes(String(process.pid))) {
      mainThreadMs = threadCpuMs(String(process.pid));
    }
  } catch {
    mainThreadMs = undefined;
  }
  return { processMs: (usage.user + usage.system) / 1000, mainThreadMs };
}

/** CPU time between two snapshots, ms, split into the main thread and the other threads. */
export interface CpuSpent {
  readonly processMs: number;
  readonly mainThreadMs: number | undefined;
  readonly otherThreadsMs: number | undefined;
}

export function cpuSpent(before: CpuSnapshot, after: CpuSnapshot): CpuSpent {
  const processMs = after.processMs - before.processMs;
  const mainThreadMs =
    before.mainThreadMs === undefined || after.mainThreadMs === undefined
      ? undefined
      : after.mainThreadMs - before.mainThreadMs;
  return {
    processMs,
    mainThreadMs,
    otherThreadsMs: mainThreadMs === undefined ? undefined : Math.max(0, processMs - mainThreadMs),
  };
}
