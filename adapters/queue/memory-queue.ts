/**
 * The in-process request queue, the embedded default for local runs and tests. It keeps the same
 * promises as the networked transports (visibility timeouts, receive counts, dead-lettering, JSON
 * bodies checked on receipt) so that code tested against it behaves the same on Redis or SQS.
 * Nothing survives the process, which is why deployments use one of the others.
 *
 * Visibility is measured on an injectable clock, so tests can expire it without sleeping; waiting
 * receives use real timers and wake early when a message is sent or released.
 */
import {
  checkExtensionMs,
  checkReceiveArguments,
  notHeldError,
  resolveDeliveryOptions,
  type DeliveryOptions,
} from './delivery-options';
import { decodeRequestBody, encodeRequestBody } from './message-body';
import type { InferenceRequest, ReceivedMessage, RequestQueue } from './request-queue';
import { ChangeSignal } from './change-signal';

export interface MemoryQueueOptions extends DeliveryOptions {
  /** Names the queue in errors. @default 'requests' */
  readonly name?: string;
  /** The clock visibility timeouts are measured on, in ms. @default Date.now */
  readonly nowMs?: () => number;
}

interface StoredMessage {
  readonly sequence: number;
  readonly body: string;
  /**
   * The request as `send` checked it: decoded from the body, so a copy the sender cannot change.
   * Delivered instead of decoding the body again on every receipt (the same check, twice, per
   * request); absent for raw bodies, which are checked on receipt.
   */
  readonly checked: InferenceRequest | undefined;
  receiveCount: number;
  /** Visible again from this time on the queue's clock; 0 while it waits to be received. */
  invisibleUntilMs: number;
  /** The receipt of the latest delivery, the only one that may act on the message. */
  receipt: string | undefined;
}

export class MemoryRequestQueue implements RequestQueue {
  readonly kind = 'memory' as const;
  readonly name: string;
  private readonly visibilityTimeoutMs: number;
  private readonly maxReceives: number;
  private readonly nowMs: () => number;
  /** Every message not yet acknowledged or dead-lettered, in the order it was sent. */
  private readonly messages = new Map<number, StoredMessage>();
  private readonly deadLetterBodies: string[] = [];
  private readonly changes = new ChangeSignal();
  private nextSequence = 1;
  private closed = false;

  constructor(options: MemoryQueueOptions = {}) {
    const delivery = resolveDeliveryOptions(options);
    this.visibilityTimeoutMs = delivery.visibilityTimeoutMs;
    this.maxReceives = delivery.maxReceives;
    this.name = options.name ?? 'requests';
    this.nowMs = options.nowMs ?? Date.now;
  }

  send(request: InferenceRequest): Promise<void> {
    return settle(() => {
      const encoded = encodeRequestBody(request);
      this.enqueue(encoded.body, encoded.request);
    });
  }

  /**
   * Enqueues a body exactly as given, unchecked, the way a producer that does not use this adapter
   * could on a networked transport; it exists so that the poison-message path can be exercised.
   */
  sendRawBody(body: string): Promise<void> {
    return settle(() => this.enqueue(body, undefined));
  }

  async receive(max: number, waitMs: number): Promise<ReceivedMessage[]> {
    checkReceiveArguments(max, waitMs);
    this.assertOpen();
    const deadline = performance.now() + waitMs;
    for (;;) {
      const received = this.takeVisible(max);
      const remainingMs = deadline - performance.now();
      if (received.length > 0 || this.closed || remainingMs <= 0) {
        return received;
      }
      await this.changes.wait(Math.min(remainingMs, this.msUntilNextReappearance()));
    }
  }

  ack(message: ReceivedMessage): Promise<void> {
    return settle(() => {
      const stored = this.heldMessage('acknowledge', message);
      this.messages.delete(stored.sequence);
    });
  }

  extendVisibility(message: ReceivedMessage, ms: number): Promise<void> {
    return settle(() => {
      checkExtensionMs(ms);
      const stored = this.heldMessage('extend the visibility of', message);
      stored.invisibleUntilMs = this.nowMs() + ms;
    });
  }

  release(message: ReceivedMessage): Promise<void> {
    return settle(() => {
      const stored = this.heldMessage('release', message);
      if (stored.receiveCount >= this.maxReceives) {
        this.deadLetter(stored);
        return;
      }
      stored.invisibleUntilMs = 0;
      stored.receipt = undefined;
      this.changes.notify();
    });
  }

  waiting(): Promise<number> {
    const nowMs = this.nowMs();
    let count = 0;
    for (const message of this.messages.values()) if (message.invisibleUntilMs <= nowMs) count++;
    return Promise.resolve(count);
  }

  deadLettered(): Promise<InferenceRequest[]> {
    return settle(() =>
      this.deadLetterBodies.flatMap((body) => {
        const decoded = decodeRequestBody(body);
        return decoded.ok ? [decoded.request] : [];
      }),
    );
  }

  /** Every dead-lettered body as it was sent, malformed ones included (they are no requests). */
  deadLetteredBodies(): Promise<string[]> {
    return Promise.resolve([...this.deadLetterBodies]);
  }

  close(): Promise<void> {
    this.closed = true;
    this.changes.notify();
    return Promise.resolve();
  }

  private enqueue(body: string, checked: InferenceRequest | undefined): void {
    this.assertOpen();
    const sequence = this.nextSequence++;
    this.messages.set(sequence, {
      sequence,
      body,
      checked,
      receiveCount: 0,
      invisibleUntilMs: 0,
      receipt: undefined,
    });
    this.changes.notify();
  }

  /** Delivers up to `max` visible messages, dead-lettering on the way those it must not deliver. */
  private takeVisible(max: number): ReceivedMessage[] {
    const now = this.nowMs();
    const received: ReceivedMessage[] = [];
    for (const stored of this.messages.values()) {
      if (received.length >= max) break;
      if (stored.invisibleUntilMs > now) continue;
      if (stored.receiveCount >= this.maxReceives) {
        this.deadLetter(stored);
        continue;
      }
      const decoded =
        stored.checked === undefined
          ? decodeRequestBody(stored.body)
          : { ok: true as const, request: stored.checked };
      if (!decoded.ok) {
        this.deadLetter(stored);
        continue;
      }
      stored.receiveCount += 1;
      stored.invisibleUntilMs = now + this.visibilityTimeoutMs;
      stored.receipt = `${stored.sequence}.${stored.receiveCount}`;
      received.push(
        Object.freeze({
          receipt: stored.receipt,
          request: decoded.request,
          receiveCount: stored.receiveCount,
        }),
      );
    }
    return received;
  }

  /**
   * The message a delivery still holds. Acting on it is allowed while nobody has received it since,
   * even after its visibility lapsed, as SQS allows; a later delivery's receipt supersedes this one.
   */
  private heldMessage(action: string, message: ReceivedMessage): StoredMessage {
    this.assertOpen();
    const sequence = Number(message.receipt.slice(0, message.receipt.indexOf('.')));
    const stored = this.messages.get(sequence);
    if (stored === undefined || stored.receipt === undefined || stored.receipt !== message.receipt) {
      throw notHeldError(action, message, 'it was acknowledged, released or received again since');
    }
    return stored;
  }

  private deadLetter(stored: StoredMessage): void {
    this.messages.delete(stored.sequence);
    this.deadLetterBodies.push(stored.body);
  }

  /** Real-time ms until the first hidden message reappears, assuming the clock runs at real pace. */
  private msUntilNextReappearance(): number {
    const now = this.nowMs();
    let soonest = Infinity;
    for (const stored of this.messages.values()) {
      if (stored.invisibleUntilMs > now) soonest = Math.min(soonest, stored.invisibleUntilMs - now);
    }
    return soonest;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`request queue ${this.name} is closed`);
  }
}

/** Runs synchronous work as a promise, so that a throw reaches the caller as a rejection. */
function settle<T>(work: () => T): Promise<T> {
  return new Promise<T>((resolve) => resolve(work()));
}
