/**
 * The requests this worker holds, between receiving them and acknowledging their answers, and the
 * batching policy that decides which of them run together.
 *
 * States of a held request (a request id is held at most once):
 *
 * | state     | entered by                          | left by                                      |
 * |-----------|-------------------------------------|----------------------------------------------|
 * | queued    | `admit` (policy accepted it)        | `next` (→ running) or a policy drop (→ gone) |
 * | running   | `next` chose it for a batch         | `settle` after its answers are stored        |
 *
 * A request delivered again while held (its visibility lapsed and the queue handed it out once
 * more, to us) is not queued twice: the held entry takes the newer delivery, since only the
 * latest receipt may acknowledge it, and the request is served once.
 */
import type { ReceivedMessage } from '../adapters/queue';
import type { BatchingPolicy, DropReason } from '../core/batching/policy';
import type { RawSample } from '../core/inference/batch-encoding';

export interface HeldRequest {
  /** The latest delivery of the request; replaced when it is delivered again while held. */
  message: ReceivedMessage;
  readonly sample: RawSample;
  /** Epoch ms when this worker received it. */
  readonly receivedAtMs: number;
  /** Main-thread ms spent receiving, validating and queueing it (part of the worker's overhead). */
  admitMs: number;
  state: 'queued' | 'running';
}

export type AdmitOutcome = 'queued' | 'redelivered' | { readonly dropped: DropReason | 'refused' };

export type NextBatch =
  | { readonly kind: 'serve'; readonly requests: HeldRequest[]; readonly paddedSize: number }
  | { readonly kind: 'wait'; readonly untilMs: number }
  | { readonly kind: 'idle' };

export class Batcher {
  private readonly held = new Map<string, HeldRequest>();

  constructor(private readonly policy: BatchingPolicy) {}

  /** Requests waiting for a batch (not those running). */
  get queued(): number {
    return this.policy.queued;
  }

  /** Offers a validated request to the policy, on the epoch-ms clock requests carry. */
  admit(message: ReceivedMessage, sample: RawSample, nowMs: number): AdmitOutcome {
    const { requestId, enqueuedAtMs, deadlineAtMs } = message.request;
    const existing = this.held.get(requestId);
    if (existing !== undefined) {
      existing.message = message;
      return 'redelivered';
    }
    const entry: HeldRequest = { message, sample, receivedAtMs: nowMs, admitMs: 0, state: 'queued' };
    const result = this.policy.enqueue({ id: requestId, arrivalMs: enqueuedAtMs, deadlineAtMs }, nowMs);
    if (!result.accepted) {
      // Drops for load or deadline are also reported by drainDropped; take them from there only.
      this.policy.drainDropped();
      return {
        dropped: result.reason === 'deadline' || result.reason === 'queue-full' ? result.reason : 'refused',
      };
    }
    this.held.set(requestId, entry);
    return 'queued';
  }

  /** Records the main-thread time spent admitting a request (reported as worker overhead). */
  noteAdmitCost(requestId: string, ms: number): void {
    const entry = this.held.get(requestId);
    if (entry !== undefined) entry.admitMs += ms;
  }

  /** The next batch to run, as the policy decides; chosen requests become `running`. */
  next(nowMs: number): NextBatch {
    const decision = this.policy.next(nowMs);
    if (decision.kind !== 'serve') return decision;
    const requests = decision.requests.map((pending) => {
      const entry = this.held.get(pending.id) as HeldRequest;
      entry.state = 'running';
      return entry;
    });
    return { kind: 'serve', requests, paddedSize: decision.paddedSize };
  }

  /** Queued requests the policy gave up on since the last call; they are no longer held. */
  drainDropped(): { readonly request: HeldRequest; readonly reason: DropReason }[] {
    return this.policy.drainDropped().flatMap(({ request, reason }) => {
      const entry = this.held.get(request.id);
      if (entry === undefined) return [];
      this.held.delete(request.id);
      return [{ request: entry, reason }];
    });
  }

  /** Forgets a request whose answer is stored (or that was handed back to the queue). */
  settle(request: HeldRequest): void {
    if (this.held.get(request.message.request.requestId) === request) {
      this.held.delete(request.message.request.requestId);
    }
  }

  /** Every held delivery, for extending their visibility while they wait or run. */
  messages(): ReceivedMessage[] {
    return [...this.held.values()].map((entry) => entry.message);
  }

  /** Takes every queued request out (shutdown: they go back to the queue unserved). */
  takeQueued(): HeldRequest[] {
    const queued: HeldRequest[] = [];
    for (;;) {
      const decision = this.next(Number.MAX_SAFE_INTEGER / 2);
      this.policy.drainDropped();
      if (decision.kind !== 'serve') break;
      queued.push(...decision.requests);
    }
    for (const entry of [...this.held.values()]) {
      if (entry.state === 'queued') queued.push(entry);
    }
    for (const entry of queued) this.held.delete(entry.message.request.requestId);
    return [...new Set(queued)];
  }
}
