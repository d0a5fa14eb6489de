/**
 * Per-thread CPU, as the worker benchmark splits it: the main thread, the inference lanes (the
 * busiest other threads), and the rest, read from this process's own /proc entries.
 */
import { Worker } from 'node:worker_threads';
import { splitThreadCpu, threadCpuMs } from '../../bench/thread-cpu';

function spin(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // busy on purpose: the test needs CPU time on this thread
  }
}

describe('thread CPU split', () => {
  it('charges the main thread its own work and a busy worker thread as the lane', async () => {
    // Given a snapshot, then 300 ms of work on the main thread and 300 ms on one worker thread
    const before = threadCpuMs();
    spin(300);
    const worker = new Worker(
      'const until = Date.now() + 300; while (Date.now() < until) {} require("worker_threads").parentPort.postMessage("done");',
      { eval: true },
    );
    await new Promise((done) => worker.once('message', done));
    const after = threadCpuMs();
    await worker.terminate();

    // When the CPU used in between is split with one lane
    const split = splitThreadCpu(before, after, process.pid, 1);

    // Then the main thread and the lane each carry most of their 300 ms (10 ms clock ticks), and
    // the rest is what other threads did meanwhile, far less
    expect(split.mainMs).toBeGreaterThanOrEqual(250);
    expect(split.lanesMs).toBeGreaterThanOrEqual(250);
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
