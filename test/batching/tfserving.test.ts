import { InputError } from '../../core/errors';
import type { PendingRequest } from '../../core/batching/policy';
import { TfServingPolicy } from '../../core/batching/tfserving';

function request(id: string, arrivalMs: number, deadlineAtMs = Infinity): PendingRequest {
  return { id, arrivalMs, deadlineAtMs };
}

function ids(decision: ReturnType<TfServingPolicy['next']>): string[] {
  if (decision.kind !== 'serve') throw new Error(`expected a batch, got ${decision.kind}`);
  return decision.requests.map((served) => served.id);
}

describe('tfserving batching policy', () => {
  it('is idle while nothing is queued', () => {
    const policy = new TfServingPolicy({ batchTimeoutMs: 10 });

    expect(policy.next(0)).toEqual({ kind: 'idle' });
    expect(policy.queued).toBe(0);
  });

  it('waits for the batch timeout of the oldest request, then serves the under-full batch padded', () => {
    // Given three requests, fewer than a full batch of 8
    const policy = new TfServingPolicy({ batchTimeoutMs: 10 });
    policy.enqueue(request('a', 0), 0);
    policy.enqueue(request('b', 3), 3);
    policy.enqueue(request('c', 4), 4);

    // When the executor is free before the oldest request has waited 10 ms, it is told to wait
    expect(policy.next(4)).toEqual({ kind: 'wait', untilMs: 10 });
    expect(policy.next(9.5)).toEqual({ kind: 'wait', untilMs: 10 });

    // Then at the timeout all three are served together, padded to 4
    const decision = policy.next(10);
    expect(ids(decision)).toEqual(['a', 'b', 'c']);
    expect(decision).toMatchObject({ paddedSize: 4 });
    expect(policy.queued).toBe(0);
  });

  it('serves a full batch at once, without waiting for the timeout, and keeps the rest queued', () => {
    const policy = new TfServingPolicy({ maxBatchSize: 4, batchTimeoutMs: 1000 });
    for (let i = 0; i < 5; i++) policy.enqueue(request(`r${i}`, i), i);

    const decision = policy.next(5);

    expect(ids(decision)).toEqual(['r0', 'r1', 'r2', 'r3']);
    expect(decision).toMatchObject({ paddedSize: 4 });
    expect(policy.next(5)).toEqual({ kind: 'wait', untilMs: 1004 });
  });

  it('pads a full batch whose maximum size is not itself supported', () => {
    const policy = new TfServingPolicy({ maxBatchSize: 3, batchTimeoutMs: 50 });
    for (let i = 0; i < 3; i++) policy.enqueue(request(`r${i}`, 0), 0);

    expect(policy.next(0)).toMatchObject({ kind: 'serve', paddedSize: 4 });
  });

  it('pads to the given supported sizes', () => {
    const policy = new TfServingPolicy({ maxBatchSize: 6, batchTimeoutMs: 0, batchSizes: [6, 3] });
    policy.enqueue(request('a', 0), 0);

    expect(policy.next(0)).toMatchObject({ kind: 'serve', paddedSize: 3 });
  });

  it('serves at once when the timeout is zero', () => {
    const policy = new TfServingPolicy({ batchTimeoutMs: 0 });
    policy.enqueue(request('a', 7), 7);

    expect(ids(policy.next(7))).toEqual(['a']);
  });

  it('refuses requests beyond maxBatchSize × maxQueuedBatches and reports them once as queue-full', () => {
    // Given a queue that holds 2 × 2 requests
    const policy = new TfServingPolicy({ maxBatchSize: 2, maxQueuedBatches: 2, batchTimeoutMs: 10 });
    const results = ['a', 'b', 'c', 'd', 'e'].map((id) => policy.enqueue(request(id, 0), 0));

    // Then the fifth is refused and reported by drainDropped, once
    expect(results.map((result) => result.accepted)).toEqual([true, true, true, true, false]);
    expect(results[4]).toEqual({ accepted: false, reason: 'queue-full' });
    expect(policy.drainDropped()).toEqual([{ request: request('e', 0), reason: 'queue-full' }]);
    expect(policy.drainDropped()).toEqual([]);
    expect(policy.queued).toBe(4);

    // And once a batch leaves, there is room again
    policy.next(0);
    expect(policy.enqueue(request('f', 1), 1).accepted).toBe(true);
  });

  it('drops queued requests whose deadline has passed instead of serving them late', () => {
    const policy = new TfServingPolicy({ batchTimeoutMs: 10 });
    policy.enqueue(request('late', 0, 8), 0);
    policy.enqueue(request('fine', 1, 100), 1);

    // When the executor is free at the first request's timeout, after its deadline
    const atTimeout = policy.next(10);

    // Then it is dropped, and the batch timeout now runs from the remaining request's arrival
    expect(policy.drainDropped()).toEqual([{ request: request('late', 0, 8), reason: 'deadline' }]);
    expect(atTimeout).toEqual({ kind: 'wait', untilMs: 11 });
    expect(ids(policy.next(11))).toEqual(['fine']);
  });

  it('refuses a request that arrives already past its deadline', () => {
    const policy = new TfServingPolicy({ batchTimeoutMs: 10 });

    expect(policy.enqueue(request('stale', 0, 5), 5)).toEqual({ accepted: false, reason: 'deadline' });
    expect(policy.drainDropped()).toHaveLength(1);
    expect(policy.next(5)).toEqual({ kind: 'idle' });
  });

  it('serves late requests when told not to drop expired ones', () => {
    const policy = new TfServingPolicy({ batchTimeoutMs: 10, dropExpired: false });
    policy.enqueue(request('late', 0, 8), 0);

    expect(ids(policy.next(10))).toEqual(['late']);
    expect(policy.drainDropped()).toEqual([]);
  });

  it('counts the timeout from the earliest arrival even when it was enqueued later', () => {
    const policy = new TfServingPolicy({ batchTimeoutMs: 10 });
    policy.enqueue(request('newer', 6), 6);
    policy.enqueue(request('older', 2), 7);

    expect(policy.next(7)).toEqual({ kind: 'wait', untilMs: 12 });
  });

  it('refuses a second request with an id that is still queued, without reporting it as dropped', () => {
    const policy = new TfServingPolicy({ batchTimeoutMs: 10 });
    policy.enqueue(request('a', 0), 0);

    expect(policy.enqueue(request('a', 1), 1)).toMatchObject({ accepted: false });
    expect(policy.drainDropped()).toEqual([]);
    expect(policy.queued).toBe(1);
  });

  it('rejects options it cannot honour with a message naming what is allowed', () => {
    expect(() => new TfServingPolicy({ maxBatchSize: 64, batchTimeoutMs: 1 })).toThrow(
      /maxBatchSize must be an integer from 1 to the largest supported batch size \(32\), got 64/,
    );
    expect(() => new TfServingPolicy({ batchTimeoutMs: -1 })).toThrow(InputError);
    expect(() => new TfServingPolicy({ batchTimeoutMs: 1, maxQueuedBatches: 0 })).toThrow(
      /maxQueuedBatches must be a positive integer/,
    );
    expect(() => new TfServingPolicy({ batchTimeoutMs: 1, batchSizes: [] })).toThrow(/must not be empty/);
    expect(() => new TfServingPolicy({ batchTimeoutMs: 1, batchSizes: [0, 2] })).toThrow(/positive integers/);
  });

  it('rejects requests and times that are not numbers', () => {
    const policy = new TfServingPolicy({ batchTimeoutMs: 1 });

    expect(() => policy.enqueue(request('a', Number.NaN), 0)).toThrow(/arrivalMs must be a finite number/);
    expect(() => policy.enqueue(request('b', 0, Number.NaN), 0)).toThrow(/deadlineAtMs/);
    expect(() => policy.next(Number.NaN)).toThrow(/nowMs must be a finite number/);
  });
});
