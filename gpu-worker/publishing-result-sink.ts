/**
 * A result sink that first hands each answer to the answer channel, which wakes the request
 * waiting for it at once, and then records it durably through the sink it wraps. The durable write
 * is what the worker awaits before acknowledging the message, so a crash loses nothing; the
 * waiting client no longer waits for that write. It starts on the next turn of the event loop, so
 * that the responses woken by a batch's answers are written before any of the batch's writes
 * takes the thread (an in-process table such as dynalite costs milliseconds of CPU per write). A failed publication is counted and reported,
 * never thrown: the waiter still finds the answer in the durable record.
 */
import type { AnswerChannel, AnswerEvent } from '../adapters/answers';
import type { EarlyRelease, ErrorRelease, FinalRelease, ResultSink } from './result-sink';

export class PublishingResultSink implements ResultSink {
  /** Publications that failed since start. */
  publishFailures = 0;

  constructor(
    private readonly channel: Pick<AnswerChannel, 'publish'>,
    private readonly durable: ResultSink,
    private readonly onPublishError: (error: unknown, requestId: string) => void = () => undefined,
  ) {}

  early(requestId: string, answer: EarlyRelease): Promise<void> {
    this.notify({
      kind: 'early',
      requestId,
      model: answer.model,
      label: answer.label,
      confidence: answer.confidence,
      exit: answer.exit,
      latencyMs: answer.latencyMs,
      configVersion: answer.configVersion,
      releasedAtMs: answer.releasedAtMs,
    });
    return nextTurn(() => this.durable.early(requestId, answer));
  }

  final(requestId: string, answer: FinalRelease): Promise<void> {
    this.notify({
      kind: 'final',
      requestId,
      model: answer.model,
      label: answer.label,
      confidence: answer.confidence,
      latencyMs: answer.latencyMs,
      configVersion: answer.configVersion,
      ...(answer.agreesWithEarly === undefined ? {} : { agreesWithEarly: answer.agreesWithEarly }),
      releasedAtMs: answer.releasedAtMs,
    });
    return nextTurn(() => this.durable.final(requestId, answer));
  }

  error(requestId: string, error: ErrorRelease): Promise<void> {
    this.notify({ kind: 'error', requestId, code: error.code, message: error.message.slice(0, 1024) });
    return nextTurn(() => this.durable.error(requestId, error));
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
