/**
 * Where answers go. The worker releases an early answer the moment a ramp is confident, the full
 * model's answer when the batch ends, or an error; a deployment decides where those land (the
 * results table on AWS and with dynalite, a callback when the worker is embedded), so the batcher
 * knows only this interface. Every implementation must be idempotent by request id, because
 * delivery is at least once and a redelivered request is answered again.
 */
import type { EarlyAnswer, FinalAnswer, ResultStore } from '../adapters/dynamo';

export interface EarlyRelease {
  readonly model: string;
  /** The class name (or index as text where the model has no names). */
  readonly label: string;
  readonly classIndex: number;
  readonly confidence: number;
  /** Candidate id of the ramp the input exited at. */
  readonly exit: string;
  /** From the request's enqueue time to this release, ms (clocks of two hosts: clamped at 0). */
  readonly latencyMs: number;
  readonly configVersion: number;
  /** Epoch ms at release, sub-millisecond, on the worker's clock. */
  readonly releasedAtMs: number;
}

export interface FinalRelease {
  readonly model: string;
  readonly label: string;
  readonly classIndex: number;
  readonly confidence: number;
  readonly latencyMs: number;
  /** Whether the early answer equalled this one; absent when the input exited nowhere. */
  readonly agreesWithEarly?: boolean;
  readonly configVersion: number;
  readonly releasedAtMs: number;
}

export interface ErrorRelease {
  /** `invalid_input`, `deadline_exceeded`, `unknown_model`. */
  readonly code: string;
  readonly message: string;
}

export interface ResultSink {
  early(requestId: string, answer: EarlyRelease): Promise<void>;
  final(requestId: string, answer: FinalRelease): Promise<void>;
  error(requestId: string, error: ErrorRelease): Promise<void>;
  /**
   * Records a final answer and the early answer released before it in one write, where the store
   * can; a sink whose waiting clients are woken by pushed answers uses it to halve its writes.
   */
  settle?(requestId: string, final: FinalRelease, early: EarlyRelease | undefined): Promise<void>;
}

/** The results table's early answer for a release. */
function earlyRecord(answer: EarlyRelease): EarlyAnswer {
  return {
    model: answer.model,
    label: answer.label,
    confidence: answer.confidence,
    exit: answer.exit,
    latencyMs: answer.latencyMs,
    configVersion: answer.configVersion,
  };
}

/** The results table's final answer for a release. */
function finalRecord(answer: FinalRelease): FinalAnswer {
  return {
    label: answer.label,
    confidence: answer.confidence,
    latencyMs: answer.latencyMs,
    configVersion: answer.configVersion,
    ...(answer.agreesWithEarly === undefined ? {} : { agreesWithEarly: answer.agreesWithEarly }),
  };
}

/** Writes to the results table; the store's conditional writes make repeats harmless. */
export class DynamoResultSink implements ResultSink {
  constructor(private readonly store: ResultStore) {}

  async early(requestId: string, answer: EarlyRelease): Promise<void> {
    await this.store.putEarly(requestId, earlyRecord(answer));
  }

  async final(requestId: string, answer: FinalRelease): Promise<void> {
    await this.store.putFinal(requestId, finalRecord(answer));
  }

  async error(requestId: string, error: ErrorRelease): Promise<void> {
    await this.store.putError(requestId, { code: error.code, message: error.message });
  }

  async settle(requestId: string, final: FinalRelease, early: EarlyRelease | undefined): Promise<void> {
    await this.store.putSettled(
      requestId,
      final.model,
      finalRecord(final),
      early === undefined ? undefined : earlyRecord(early),
    );
  }
}

/** One answer as the callback sink reports it. */
export type SinkEvent =
  | { readonly kind: 'early'; readonly requestId: string; readonly answer: EarlyRelease }
  | { readonly kind: 'final'; readonly requestId: string; readonly answer: FinalRelease }
  | { readonly kind: 'error'; readonly requestId: string; readonly error: ErrorRelease };

/**
 * Hands every answer to a function in the same process: the embedded worker and the benchmark.
 * Idempotence is the listener's business; it sees every release, repeats included, which is what
 * tests need to prove there are none.
 */
export class CallbackResultSink implements ResultSink {
  constructor(private readonly listener: (event: SinkEvent) => void | Promise<void>) {}

  async early(requestId: string, answer: EarlyRelease): Promise<void> {
    await this.listener({ kind: 'early', requestId, answer });
  }

  async final(requestId: string, answer: FinalRelease): Promise<void> {
    await this.listener({ kind: 'final', requestId, answer });
  }

  async error(requestId: string, error: ErrorRelease): Promise<void> {
    await this.listener({ kind: 'error', requestId, error });
  }
}
