/**
 * Where answers go. The worker releases an early answer the moment a ramp is confident, the full
 * model's answer when the batch ends, or an error; a deployment decides where those land (the
 * results table, a Redis hash, a callback when the worker is embedded), so the worker knows only
 * this interface. Every implementation must be idempotent by request id, because delivery is at
 * least once and a redelivered request is answered again.
 */
import type { AnswerError, EarlyAnswer, FinalAnswer } from './answers';

export interface ResultSink {
  early(requestId: string, answer: EarlyAnswer): Promise<void>;
  final(requestId: string, answer: FinalAnswer): Promise<void>;
  error(requestId: string, error: AnswerError): Promise<void>;
  /**
   * Records a final answer and the early answer released before it in one write, where the store
   * can; a sink whose waiting clients are woken by pushed answers uses it to halve its writes.
   */
  settle?(requestId: string, final: FinalAnswer, early: EarlyAnswer | undefined): Promise<void>;
}

/** A store of answers whose writes are idempotent by request id (the results table, Redis). */
export interface AnswerStore {
  putEarly(requestId: string, answer: EarlyAnswer): Promise<unknown>;
  putFinal(requestId: string, answer: FinalAnswer): Promise<unknown>;
  putError(requestId: string, error: AnswerError): Promise<unknown>;
  /** Both answers of a request in one write (the results table has it, the Redis hash not). */
  putSettled?(requestId: string, model: string, final: FinalAnswer, early?: EarlyAnswer): Promise<unknown>;
}

/** Writes every answer to a store; the store's idempotent writes make repeats harmless. */
export class StoreResultSink implements ResultSink {
  /** Present where the store writes both answers at once. */
  readonly settle?: (requestId: string, final: FinalAnswer, early: EarlyAnswer | undefined) => Promise<void>;

  constructor(private readonly store: AnswerStore) {
    const putSettled = store.putSettled?.bind(store);
    if (putSettled !== undefined) {
      this.settle = async (requestId, final, early) => {
        await putSettled(requestId, final.model, final, early);
      };
    }
  }

  async early(requestId: string, answer: EarlyAnswer): Promise<void> {
    await this.store.putEarly(requestId, answer);
  }

  async final(requestId: string, answer: FinalAnswer): Promise<void> {
    await this.store.putFinal(requestId, answer);
  }

  async error(requestId: string, error: AnswerError): Promise<void> {
    await this.store.putError(requestId, error);
  }
}
