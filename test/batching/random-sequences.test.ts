import { ClockworkPolicy } from '../../core/batching/clockwork';
import type { BatchingPolicy, PendingRequest } from '../../core/batching/policy';
import { TfServingPolicy } from '../../core/batching/tfserving';
import { SeededRandom } from '../../core/util/random';
import { drivePolicy, type DriveResult } from './drive-policy';

const SIZES = [1, 2, 4, 8, 16, 32];
const latencyMs = (paddedSize: number): number => 3 + 0.5 * paddedSize;

/** Bursty arrivals: exponential gaps whose mean changes every 50 requests, deadlines 10–60 ms out. */
function randomArrivals(seed: number, count: number): PendingRequest[] {
  const random = new SeededRandom(seed);
  const arrivals: PendingRequest[] = [];
  let nowMs = 0;
  let meanGapMs = 1;
  for (let i = 0; i < count; i++) {
    if (i % 50 === 0) meanGapMs = 0.1 + 3 * random.next();
    nowMs += -Math.log(1 - random.next()) * meanGapMs;
    arrivals.push({ id: `s${seed}-r${i}`, arrivalMs: nowMs, deadlineAtMs: nowMs + 10 + 50 * random.next() });
  }
  return arrivals;
}

function expectCommonInvariants(
  result: DriveResult,
  arrivals: readonly PendingRequest[],
  maxBatchSize: number,
): void {
  const outcomes = new Map<string, number>();
  for (const batch of result.batches) {
    expect(batch.requests.length).toBeGreaterThan(0);
    expect(batch.requests.length).toBeLessThanOrEqual(maxBatchSize);
    expect(SIZES).toContain(batch.paddedSize);
    expect(batch.paddedSize).toBeGreaterThanOrEqual(batch.requests.length);
    for (const request of batch.requests) outcomes.set(request.id, (outcomes.get(request.id) ?? 0) + 1);
  }
  for (const { request } of result.dropped) outcomes.set(request.id, (outcomes.get(request.id) ?? 0) + 1);
  // Every request is served or dropped, exactly once
  expect(outcomes.size).toBe(arrivals.length);
  expect([...outcomes.values()].every((times) => times === 1)).toBe(true);
}

describe('batching policies on seeded random arrival sequences', () => {
  const seeds = [1, 2, 3, 4, 5, 6, 7, 8];

  const fills = seeds.flatMap((seed) =>
    (['largest', 'throughput'] as const).map((fill) => [seed, fill] as const),
  );

  it.each(fills)(
    'clockwork serves each request once, within its deadline, or drops it (seed %i, fill %s)',
    (seed, fill) => {
      // Given bursty arrivals, sometimes above capacity
      const arrivals = randomArrivals(seed, 2000);
      const policy: BatchingPolicy = new ClockworkPolicy({
        latencyMs,
        batchSizes: SIZES,
        maxBatchSize: 16,
        fill,
      });

      // When they are replayed through the policy
      const result = drivePolicy(policy, arrivals, latencyMs);

      // Then the common invariants hold, and every served request met its deadline under the profile
      expectCommonInvariants(result, arrivals, 16);
      for (const batch of result.batches) {
        for (const request of batch.requests) {
          expect(batch.startMs + latencyMs(batch.paddedSize)).toBeLessThanOrEqual(request.deadlineAtMs);
          expect(batch.startMs).toBeGreaterThanOrEqual(request.arrivalMs);
        }
      }
      // (and the sequence was hard enough to make the policy give up on some)
      expect(result.dropped.length).toBeGreaterThan(0);
      expect(result.dropped.every((entry) => entry.reason === 'deadline')).toBe(true);
      expect(policy.queued).toBe(0);
    },
  );

  it.each(seeds)(
    'tfserving serves each request once, in order, within its bounds, or drops it (seed %i)',
    (seed) => {
      // Given the same kind of arrivals and a small queue
      const arrivals = randomArrivals(seed, 2000);
      const timeoutMs = 4;
      const policy = new TfServingPolicy({ maxBatchSize: 8, batchTimeoutMs: timeoutMs, maxQueuedBatches: 2 });

      // When they are replayed through the policy
      const result = drivePolicy(policy, arrivals, latencyMs);

      // Then the common invariants hold, the queue stayed within capacity, batches kept FIFO order,
      // no batch was held past its oldest request's timeout while the executor was free, and nothing
      // was served after its deadline
      expectCommonInvariants(result, arrivals, 8);
      expect(result.peakQueued).toBeLessThanOrEqual(16);
      expect(result.dropped.some((entry) => entry.reason === 'queue-full')).toBe(true);
      const servedOrder = result.batches.flatMap((batch) =>
        batch.requests.map((request) => request.arrivalMs),
      );
      expect(servedOrder).toEqual([...servedOrder].sort((a, b) => a - b));
      let executorFreeMs = 0;
      for (const batch of result.batches) {
        const oldestArrivalMs = Math.min(...batch.requests.map((request) => request.arrivalMs));
        expect(batch.startMs).toBeLessThanOrEqual(Math.max(executorFreeMs, oldestArrivalMs + timeoutMs));
        for (const request of batch.requests) expect(batch.startMs).toBeLessThan(request.deadlineAtMs);
        executorFreeMs = batch.endMs;
      }
      expect(policy.queued).toBe(0);
    },
  );

  it('gives the same decisions for the same seed', () => {
    const run = (): DriveResult =>
      drivePolicy(new ClockworkPolicy({ latencyMs }), randomArrivals(42, 500), latencyMs);

    expect(run()).toEqual(run());
  });
});
