/**
 * Where the API benchmark says the cores went: the per-thread CPU counters it reads (Linux's /proc,
 * where the project runs: the main thread's share of the process) and the per-request figures and
 * ceiling it derives.
 */
import { cpuPerRequest } from '../../bench/api';
import { cpuSnapshot, cpuSpent } from '../../bench/api/cpu-meter';

describe('the API benchmark’s CPU accounting', () => {
  it('splits the process’s CPU time into the main thread and the rest', () => {
    // Given a snapshot, then work on this (the main) thread
    const before = cpuSnapshot();
    let sink = 0;
    const until = process.cpuUsage().user + 50_000;
    while (process.cpuUsage().user < until) sink += Math.sqrt(sink + 1);

    // When the CPU spent since is read
    const spent = cpuSpent(before, cpuSnapshot());

    // Then the process spent it, and the main thread's part is known and within it (the
    // per-thread counters tick every 10 ms)
    expect(sink).toBeGreaterThan(0);
    expect(spent.processMs).toBeGreaterThan(0);
    expect(spent.mainThreadMs).toBeDefined();
    expect(spent.mainThreadMs as number).toBeGreaterThan(0);
    expect(spent.mainThreadMs as number).toBeLessThanOrEqual(spent.processMs + 10);
    expect((spent.mainThreadMs as number) + (spent.otherThreadsMs as number)).toBeGreaterThanOrEqual(
      spent.processMs - 10,
    );
  });

  it('turns CPU time into milliseconds per answered request and the rate the cores could serve', () => {
    // Given 100 answered requests that cost the stack 800 ms (300 on its main thread) and the client 200 ms
    const figures = cpuPerRequest({ processMs: 800, mainThreadMs: 300, otherThreadsMs: 500 }, 200, 100, 2);

    // Then each costs 10 ms of CPU in all, so 2 cores could serve at most 200 a second
    expect(figures).toEqual({
      cpuMsPerRequest: { stack: 8, mainThread: 3, otherThreads: 5, client: 2 },
      cpuBoundRps: 200,
    });
    // ... and where the OS gives no split, only the split is unknown
    expect(
      cpuPerRequest({ processMs: 800, mainThreadMs: undefined, otherThreadsMs: undefined }, 200, 100, 2)
        .cpuMsPerRequest,
    ).toEqual({ stack: 8, mainThread: undefined, otherThreads: undefined, client: 2 });
  });
});
