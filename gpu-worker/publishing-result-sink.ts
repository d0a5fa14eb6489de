/**
 * A result sink that first hands each answer to the answer channel, which wakes the request
 * waiting for it at once, and then records it durably through the sink it wraps. The durable write
 * is what the worker awaits before acknowledging the message, so a crash loses nothing; the
 * waiting client no longer waits for that write. It starts on the next turn of the event loop, so
 * that the responses woken by a batch's answers are written before any of the batch's writes
 * takes the thread (an in-process table such as dynalite costs milliseconds of CPU per write).
 *
 * Because waiting clients get the early answer from the channel, its durable copy need not be
 * written the moment it is released: where the wrapped sink can `settle`, the early answer is held
 * until the same request's final answer (the end of its batch) and both are written at once, one
 * write per request instead of two. A held early answer is written on its own if an error comes
 * instead, or after `maxHoldMs` at the latest. A failed publication is counted and reported,
 * never thrown: the waiter still finds the answer in the durable record.
 */
import type { AnswerChannel, AnswerEvent } from '../adapters/answers';
import {
  MAX_ERROR_MESSAGE_LENGTH,
  type AnswerError,
  type EarlyAnswer,
  type FinalAnswer,
} from '../core/serving/answers';
import type { ResultSink } from '../core/serving/result-sink';

/** Longest an early answer waits for its final answer before it is written on its own, ms. */
export const DEFAULT_MAX_HOLD_MS = 10_000;

interface HeldEarly {
  readonly answer: EarlyAnswer;
  readonly timer: NodeJS.Timeout;
  readonly written: { resolve: () => void; reject: (error: unknown) => void };
}

export class PublishingResultSink implements ResultSink {
  /** Publications that failed since start. */
  publishFailures = 0;
  private readonly held = new Map<string, HeldEarly>();

  constructor(
    private readonly channel: Pick<AnswerChannel, 'publish'>,
    private readonly durable: ResultSink,
    private readonly onPublishError: (error: unknown, requestId: string) => void = () => undefined,
    private readonly maxHoldMs = DEFAULT_MAX_HOLD_MS,
  ) {}

  early(requestId: string, answer: EarlyAnswer): Promise<void> {
    this.notify({ kind: 'early', requestId, ...answer });
    if (this.durable.settle === undefined || this.held.has(requestId)) {
      return nextTurn(() => this.durable.early(requestId, answer));
    }
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => void this.writeHeldAlone(requestId), this.maxHoldMs);
      timer.unref();
      this.held.set(requestId, { answer, timer, written: { resolve, reject } });
    });
  }

  final(requestId: string, answer: FinalAnswer): Promise<void> {
    this.notify({ kind: 'final', requestId, ...answer });
    const settle = this.durable.settle?.bind(this.durable);
    if (settle === undefined) return nextTurn(() => this.durable.final(requestId, answer));
    const held = this.take(requestId);
    const written = nextTurn(() => settle(requestId, answer, held?.answer));
    if (held !== undefined) written.then(held.written.resolve, held.written.reject);
    return written;
  }

  async error(requestId: string, error: AnswerError): Promise<void> {
    this.notify({
      kind: 'error',
      requestId,
      code: error.code,
      message: error.message.slice(0, MAX_ERROR_MESSAGE_LENGTH),
    });
    await this.writeHeldAlone(requestId).catch(() => undefined);
    await nextTurn(() => this.durable.error(requestId, error));
  }

  /** Early answers held for their final answers now. */
  get holding(): number {
    return this.held.size;
  }

  private take(requestId: string): HeldEarly | undefined {
    const held = this.held.get(requestId);
    if (held === undefined) return undefined;
    clearTimeout(held.timer);
    this.held.delete(requestId);
    return held;
  }

  /** Writes a held early answer on its own (no final answer came in time); its promise settles. */
  private writeHeldAlone(requestId: string): Promise<void> {
    const held = this.take(requestId);
    if (held === undefined) return Promise.resolve();
    const written = nextTurn(() => this.durable.early(requestId, held.answer));
    written.then(held.written.resolve, held.written.reject);
    return written;
  }

  private notify(event: AnswerEvent): void {
    const failed = (error: unknown): void => {
      this.publishFailures += 1;
      this.onPublishError(error, event.requestId);
    };
    try {
      this.channel.publish(event).catch(failed);
    } catch (error) {
      failed(error);
    }
  }
}

/** Runs `write` after the I/O already due, on the next turn of the event loop. */
function nextTurn(write: () => Promise<void>): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve)).then(write);
}
