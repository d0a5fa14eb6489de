/**
 * One request's pushed answers, as its waiting handler takes them: it subscribes before the
 * request is queued (so no answer can slip past), keeps what arrives in order, and hands the
 * answers out one at a time to a waiter that may come later than they did.
 */
import type { AnswerChannel, AnswerEvent, Unsubscribe } from '../../adapters/answers';

export class AnswerInbox {
  private readonly arrived: AnswerEvent[] = [];
  private wake: (() => void) | undefined;
  private unsubscribe: Unsubscribe = () => undefined;
  private answered = false;

  /** Whether the channel cannot lose an answer, so the waiter need not read the record until its deadline. */
  private constructor(readonly lossless: boolean) {}

  /** Subscribes to the request's answers; resolves once nothing published from now on can be missed. */
  static async open(
    channel: Pick<AnswerChannel, 'subscribe' | 'lossless'>,
    requestId: string,
  ): Promise<AnswerInbox> {
    const inbox = new AnswerInbox(channel.lossless);
    inbox.unsubscribe = await channel.subscribe(requestId, (event) => {
      inbox.arrived.push(event);
      if (event.kind !== 'early') inbox.answered = true;
      inbox.wake?.();
    });
    return inbox;
  }

  /** Whether the final answer or an error has arrived (the worker then records the request). */
  get settled(): boolean {
    return this.answered;
  }

  /** The next answer not yet taken, or undefined when none arrives within `timeoutMs`. */
  next(timeoutMs: number): Promise<AnswerEvent | undefined> {
    const ready = this.arrived.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve(this.arrived.shift());
      };
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      this.wake = done;
    });
  }

  /** Stops listening; answers still to come are left to the durable record. */
  close(): void {
    this.unsubscribe();
    this.wake?.();
  }
}
