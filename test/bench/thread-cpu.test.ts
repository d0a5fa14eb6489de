/**
 * Per-thread CPU, as the worker benchmark splits it: the main thread, the inference lanes (the
 * busiest other threads), and the rest, read from this process's own /proc entries.
 */
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { splitThreadCpu, threadCpuMs } from '../../bench/thread-cpu';

/** This thread's own CPU ms, from /proc/thread-self (the clock the split reads). */
function ownCpuMs(): number {
  const stat = readFileSync('/proc/thread-self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * Busy until this thread has used `ms` of CPU (not of wall time: under parallel test workers a
 * thread can be descheduled for a good part of any wall-time interval).
 */
function spinCpu(ms: number): void {
  const start = ownCpuMs();
  while (ownCpuMs() - start < ms) {
    // busy on purpose: the test needs CPU time on this thread
  }
}

/** The same, as the source of a worker thread (plain JavaScript: it is not compiled). */
const WORKER_SPIN = `
const { readFileSync } = require('node:fs');
function ownCpuMs() {
  const stat = readFileSync('/proc/thread-self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
const start = ownCpuMs();
while (ownCpuMs() - start < 300) {}
require('node:worker_threads').parentPort.postMessage('done');
// Stay alive until terminated: a thread that has exited is gone from /proc with its CPU time.
setInterval(() => {}, 60_000);`;

describe('thread CPU split', () => {
  it('charges the main thread its own work and a busy worker thread as the lane', async () => {
    // Given a snapshot, then 300 ms of CPU on the main thread and 300 ms on one worker thread
    const before = threadCpuMs();
    spinCpu(300);
    const worker = new Worker(WORKER_SPIN, { eval: true });
    await new Promise((done, fail) => {
      worker.once('message', done);
      worker.once('error', fail);
    });
    const after = threadCpuMs();
    await worker.terminate();

    // When the CPU used in between is split with one lane
    const split = splitThreadCpu(before, after, process.pid, 1);

    // Then the main thread and the lane each carry their 300 ms, and the rest is what other
    // threads did meanwhile, far less
    expect(split.mainMs).toBeGreaterThanOrEqual(300);
    expect(split.lanesMs).toBeGreaterThanOrEqual(300);
    expect(split.otherMs).toBeLessThan(split.lanesMs);
  });

  it('counts threads that started after the first snapshot from zero and ranks the busiest as lanes', () => {
    const before = new Map([
      [1, 100],
      [2, 50],
      [3, 40],
    ]);
    const after = new Map([
      [1, 130],
      [2, 450],
      [3, 45],
      [4, 380],
      [5, 12],
    ]);
    expect(splitThreadCpu(before, after, 1, 2)).toEqual({ mainMs: 30, lanesMs: 780, otherMs: 17 });
  });
});
