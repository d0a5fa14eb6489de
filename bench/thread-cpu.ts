/**
 * CPU time per thread of this process, from Linux's `/proc/self/task/<tid>/stat`, so that a
 * benchmark can say where serving's CPU goes: the main thread (queue, encoding, exit rule,
 * releases), the inference lanes, and everything else (V8's garbage-collector helpers, libuv).
 * On two cores every millisecond the other threads take is one a lane does not get, and a wall-time
 * profile of one lane with the other core idle does not see it (docs/benchmarks.md, "What a cut
 * costs in serving that its profile does not see"). Node 20 has no per-thread CPU clock of its own.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of `/proc`'s utime and stime (`getconf CLK_TCK`; 100 on Linux x64). */
const TICKS_PER_SECOND = 100;

/** CPU milliseconds (user + system) of every thread of this process; empty where `/proc` is absent. */
export function threadCpuMs(): Map<number, number> {
  const out = new Map<number, number>();
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return out;
  }
  for (const tid of tids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended between the listing and the read
    }
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    if (Number.isFinite(ticks)) out.set(Number(tid), (ticks * 1000) / TICKS_PER_SECOND);
  }
  return out;
}

/** CPU milliseconds between two snapshots, by role. */
export interface ThreadCpuSplit {
  readonly mainMs: number;
  /** The `lanes` busiest threads other than the main one. */
  readonly lanesMs: number;
  readonly otherMs: number;
}

/**
 * Splits the CPU used between two snapshots into the main thread (`mainTid`), the lanes (the
 * `lanes` threads that used the most apart from the main one: inference threads run for almost the
 * whole of a serving phase, no helper comes close) and the rest. Threads that started after
 * `before` count from zero.
 */
export function splitThreadCpu(
  before: ReadonlyMap<number, number>,
  after: ReadonlyMap<number, number>,
  mainTid: number,
  lanes: number,
): ThreadCpuSplit {
  let mainMs = 0;
  const others: number[] = [];
  for (const [tid, ms] of after) {
    const used = Math.max(0, ms - (before.get(tid) ?? 0));
    if (tid === mainTid) mainMs = used;
    else others.push(used);
  }
  others.sort((a, b) => b - a);
  const sum = (values: readonly number[]) => values.reduce((total, v) => total + v, 0);
  return {
    mainMs,
    lanesMs: sum(others.slice(0, lanes)),
    otherMs: sum(others.slice(lanes)),
  };
}
