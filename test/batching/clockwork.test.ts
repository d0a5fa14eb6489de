import { ClockworkPolicy } from '../../core/batching/clockwork';
import { InputError } from '../../core/errors';
import type { PendingRequest } from '../../core/batching/policy';

/** A profile where a batch costs 1 ms plus 1 ms per padded slot. */
const PROFILE: Record<number, number> = { 1: 2, 2: 3, 4: 5, 8: 9, 16: 17, 32: 33 };
const latencyMs = (paddedSize: number): number => PROFILE[paddedSize] ?? Number.NaN;

function request(id: string, arrivalMs: number, deadlineAtMs: number): PendingRequest {
  return { id, arrivalMs, deadlineAtMs };
}

function ids(decision: ReturnType<ClockworkPolicy['next']>): string[] {
  if (decision.kind !== 'serve') throw new Error(`expected a batch, got ${decision.kind}`);
  return decision.requests.map((served) => served.id);
}

describe('clockwork batching policy', () => {
  it('is idle while nothing is queued', () => {
    expect(new ClockworkPolicy({ latencyMs }).next(0)).toEqual({ kind: 'idle' });
  });

  it('serves a lone request at once instead of waiting for company', () => {
    const policy = new ClockworkPolicy({ latencyMs });
    policy.enqueue(request('a', 0, 1000), 0);

    const decision = policy.next(0);

    expect(ids(decision)).toEqual(['a']);
    expect(decision).toMatchObject({ paddedSize: 1 });
  });

  it('serves everything queued, padded, when the padded latency meets the earliest deadline', () => {
    const policy = new ClockworkPolicy({ latencyMs });
    for (let i = 0; i < 6; i++) policy.enqueue(request(`r${i}`, 0, 100), 0);

    const decision = policy.next(0);

    expect(decision).toMatchObject({ kind: 'serve', paddedSize: 8 });
    expect(ids(decision)).toHaveLength(6);
  });

  it('shrinks the batch to the largest size whose latency still meets the earliest deadline', () => {
    // Given eight requests, the most urgent due at 6 ms: a batch of 8 takes 9 ms, one of 4 takes 5 ms
    const policy = new ClockworkPolicy({ latencyMs });
    policy.enqueue(request('urgent', 0, 6), 0);
    for (let i = 0; i < 7; i++) policy.enqueue(request(`r${i}`, 0, 100 + i), 0);

    // When the executor is free at 0
    const decision = policy.next(0);

    // Then the four most urgent are served at size 4, and the rest stay queued
    expect(ids(decision)).toEqual(['urgent', 'r0', 'r1', 'r2']);
    expect(decision).toMatchObject({ paddedSize: 4 });
    expect(policy.queued).toBe(4);
  });

  it('serves in deadline order whatever the arrival order', () => {
    const policy = new ClockworkPolicy({ latencyMs, maxBatchSize: 2 });
    policy.enqueue(request('relaxed', 0, 500), 0);
    policy.enqueue(request('tight', 1, 50), 1);
    policy.enqueue(request('middle', 2, 200), 2);

    expect(ids(policy.next(2))).toEqual(['tight', 'middle']);
    expect(ids(policy.next(5))).toEqual(['relaxed']);
  });

  it('keeps arrival order among equal deadlines', () => {
    const policy = new ClockworkPolicy({ latencyMs });
    policy.enqueue(request('second', 5, 100), 5);
    policy.enqueue(request('first', 4, 100), 5);
    policy.enqueue(request('third', 5, 100), 5);

    expect(ids(policy.next(5))).toEqual(['first', 'second', 'third']);
  });

  it('drops requests that would miss their deadline even served alone, and serves the rest', () => {
    // Given a request due at 10 and the executor free only at 9, when one request takes 2 ms
    const policy = new ClockworkPolicy({ latencyMs });
    policy.enqueue(request('doomed', 0, 10), 0);
    policy.enqueue(request('ok', 0, 50), 0);

    const decision = policy.next(9);

    expect(ids(decision)).toEqual(['ok']);
    expect(policy.drainDropped()).toEqual([{ request: request('doomed', 0, 10), reason: 'deadline' }]);
    expect(policy.drainDropped()).toEqual([]);
  });

  it('answers idle when every queued request was hopeless', () => {
    const policy = new ClockworkPolicy({ latencyMs });
    policy.enqueue(request('a', 0, 10), 0);

    expect(policy.next(20)).toEqual({ kind: 'idle' });
    expect(policy.drainDropped()).toHaveLength(1);
  });

  it('refuses on arrival a request whose deadline cannot be met even at once', () => {
    const policy = new ClockworkPolicy({ latencyMs });

    expect(policy.enqueue(request('a', 0, 1.5), 0)).toEqual({ accepted: false, reason: 'deadline' });
    expect(policy.drainDropped()).toEqual([{ request: request('a', 0, 1.5), reason: 'deadline' }]);
    expect(policy.queued).toBe(0);
  });

  it('accepts a deadline met exactly', () => {
    const policy = new ClockworkPolicy({ latencyMs });

    expect(policy.enqueue(request('a', 0, 2), 0).accepted).toBe(true);
    expect(ids(policy.next(0))).toEqual(['a']);
  });

  it('caps batches at maxBatchSize and pads them', () => {
    const policy = new ClockworkPolicy({ latencyMs, maxBatchSize: 3 });
    for (let i = 0; i < 5; i++) policy.enqueue(request(`r${i}`, 0, 100), 0);

    const decision = policy.next(0);

    expect(ids(decision)).toHaveLength(3);
    expect(decision).toMatchObject({ paddedSize: 4 });
  });

  it('judges hopelessness at the smallest supported size when size 1 is not supported', () => {
    // Given sizes 2 and 4 only: a lone request runs padded to 2, which takes 3 ms
    const policy = new ClockworkPolicy({ latencyMs, batchSizes: [4, 2] });

    expect(policy.enqueue(request('a', 0, 2.5), 0).accepted).toBe(false);
    expect(policy.enqueue(request('b', 0, 3), 0).accepted).toBe(true);
    expect(policy.next(0)).toMatchObject({ kind: 'serve', paddedSize: 2 });
  });

  it('finds the largest batch even when latency does not grow with size', () => {
    // Given a profile where size 4 is oddly slower than size 8
    const odd = (size: number): number => ({ 1: 1, 2: 2, 4: 50, 8: 8 })[size] ?? Number.NaN;
    const policy = new ClockworkPolicy({ latencyMs: odd, batchSizes: [1, 2, 4, 8] });
    for (let i = 0; i < 3; i++) policy.enqueue(request(`r${i}`, 0, 10), 0);

    // Then three requests (padded to 4, 50 ms) cannot go together, but two can
    expect(policy.next(0)).toMatchObject({ kind: 'serve', paddedSize: 2 });
  });

  it('fills for throughput when asked: a full smaller batch instead of a padded one', () => {
    // Given six requests and a profile where padding 6 up to 8 costs 9 ms and a full 4 costs 5 ms
    const policy = new ClockworkPolicy({ latencyMs, fill: 'throughput' });
    for (let i = 0; i < 6; i++) policy.enqueue(request(`r${i}`, 0, 100 + i), 0);

    // When the executor is free, it serves the four most urgent (0.8 requests a ms against 0.67)
    const first = policy.next(0);
    expect(ids(first)).toEqual(['r0', 'r1', 'r2', 'r3']);
    expect(first).toMatchObject({ paddedSize: 4 });
    // And the other two next, as a full batch of 2
    const second = policy.next(5);
    expect(ids(second)).toEqual(['r4', 'r5']);
    expect(second).toMatchObject({ paddedSize: 2 });
  });

  it('fills for throughput by taking everything where padding is cheap', () => {
    // Given a profile where a batch of 8 costs what a batch of 4 does
    const flat = (size: number): number => (size === 8 ? 5 : (PROFILE[size] ?? Number.NaN));
    const policy = new ClockworkPolicy({ latencyMs: flat, fill: 'throughput' });
    for (let i = 0; i < 6; i++) policy.enqueue(request(`r${i}`, 0, 100), 0);

    // Then all six go at once, padded to 8
    const decision = policy.next(0);
    expect(ids(decision)).toHaveLength(6);
    expect(decision).toMatchObject({ paddedSize: 8 });
  });

  it('refuses an unknown fill, naming the allowed ones', () => {
    expect(() => new ClockworkPolicy({ latencyMs, fill: 'greedy' as 'largest' })).toThrow(
      /fill must be one of largest, throughput, got greedy/,
    );
  });

  it('refuses arrivals beyond maxQueued as queue-full', () => {
    const policy = new ClockworkPolicy({ latencyMs, maxQueued: 1 });
    policy.enqueue(request('a', 0, 100), 0);

    expect(policy.enqueue(request('b', 0, 100), 0)).toEqual({ accepted: false, reason: 'queue-full' });
    expect(policy.drainDropped()).toEqual([{ request: request('b', 0, 100), reason: 'queue-full' }]);
  });

  it('refuses a profile that lacks a size the policy may choose', () => {
    expect(() => new ClockworkPolicy({ latencyMs, batchSizes: [1, 2, 64] })).toThrow(
      /latencyMs\(64\) must be a finite number of ms/,
    );
    expect(() => new ClockworkPolicy({ latencyMs, maxBatchSize: 33 })).toThrow(InputError);
    expect(() => new ClockworkPolicy({ latencyMs, maxQueued: 0 })).toThrow(
      /maxQueued must be a positive integer/,
    );
  });
});
