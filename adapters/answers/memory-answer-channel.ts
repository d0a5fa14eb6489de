/**
 * The in-process answer channel, for the embedded default where the worker and the API share a
 * process: publishing calls the waiting request's listener synchronously, inside the worker's
 * release, so the answer reaches the HTTP response without a timer, a read or a copy.
 */
import type { AnswerChannel, AnswerEvent, AnswerListener, Unsubscribe } from './answer-channel';

export class MemoryAnswerChannel implements AnswerChannel {
  readonly kind = 'memory' as const;
  /** A listener is called inside the publish, in the same process: nothing can be lost between. */
  readonly lossless = true;
  private readonly listeners = new Map<string, Set<AnswerListener>>();

  publish(event: AnswerEvent): Promise<void> {
    const listeners = this.listeners.get(event.requestId);
    if (listeners !== undefined) {
      for (const listener of [...listeners]) {
        try {
          listener(event);
        } catch {
          // A listener's failure is its own; the release and the other listeners go on.
        }
      }
    }
    return Promise.resolve();
  }

  subscribe(requestId: string, listener: AnswerListener): Promise<Unsubscribe> {
    let listeners = this.listeners.get(requestId);
    if (listeners === undefined) {
      listeners = new Set();
      this.listeners.set(requestId, listeners);
    }
    listeners.add(listener);
    return Promise.resolve(() => {
      const current = this.listeners.get(requestId);
      if (current === undefined) return;
      current.delete(listener);
      if (current.size === 0) this.listeners.delete(requestId);
    });
  }

  /** Subscriptions still open (tests check that waiters clean up). */
  get subscriptions(): number {
    return this.listeners.size;
  }

  close(): Promise<void> {
    this.listeners.clear();
    return Promise.resolve();
  }
}
