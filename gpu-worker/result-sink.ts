/**
 * The worker's own result sink: every answer handed to a function in the same process (the
 * embedded worker, tests and benchmarks). Sinks that store answers are `StoreResultSink`s over a
 * store (core/serving/result-sink.ts); the interface every sink implements is there too.
 */
import type { AnswerError, EarlyAnswer, FinalAnswer } from '../core/serving/answers';
import type { ResultSink } from '../core/serving/result-sink';

/** One answer as the callback sink reports it. */
export type SinkEvent =
  | { readonly kind: 'early'; readonly requestId: string; readonly answer: EarlyAnswer }
  | { readonly kind: 'final'; readonly requestId: string; readonly answer: FinalAnswer }
  | { readonly kind: 'error'; readonly requestId: string; readonly error: AnswerError };

/**
 * Hands every answer to a function in the same process: the embedded worker and the benchmark.
 * Idempotence is the listener's business; it sees every release, repeats included, which is what
 * tests need to prove there are none.
 */
export class CallbackResultSink implements ResultSink {
  constructor(private readonly listener: (event: SinkEvent) => void | Promise<void>) {}

  async early(requestId: string, answer: EarlyAnswer): Promise<void> {
    await this.listener({ kind: 'early', requestId, answer });
  }

  async final(requestId: string, answer: FinalAnswer): Promise<void> {
    await this.listener({ kind: 'final', requestId, answer });
  }

  async error(requestId: string, error: AnswerError): Promise<void> {
    await this.listener({ kind: 'error', requestId, error });
  }
}
