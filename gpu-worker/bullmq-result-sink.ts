/**
 * The result sink of a BullMQ deployment: answers go to result hashes in the queue's own Redis
 * (see `RedisResultStore`), so self-hosted serving on Redis needs no DynamoDB. Idempotence by
 * request id is the store's, written atomically in Redis, so a redelivered request answered
 * again changes nothing.
 */
import type { EarlyRelease, ErrorRelease, FinalRelease, ResultSink } from './result-sink';
import type { RedisResultStore } from '../adapters/redis';

/** Maps each release onto the store's idempotent writes; the deployment owns (and closes) the store. */
export class BullMqResultSink implements ResultSink {
  constructor(private readonly store: RedisResultStore) {}

  async early(requestId: string, answer: EarlyRelease): Promise<void> {
    await this.store.putEarly(requestId, answer.model, {
      label: answer.label,
      classIndex: answer.classIndex,
      confidence: answer.confidence,
      exit: answer.exit,
      latencyMs: answer.latencyMs,
      configVersion: answer.configVersion,
    });
  }

  async final(requestId: string, answer: FinalRelease): Promise<void> {
    await this.store.putFinal(requestId, answer.model, {
      label: answer.label,
      classIndex: answer.classIndex,
      confidence: answer.confidence,
      latencyMs: answer.latencyMs,
      configVersion: answer.configVersion,
      ...(answer.agreesWithEarly === undefined ? {} : { agreesWithEarly: answer.agreesWithEarly }),
    });
  }

  async error(requestId: string, error: ErrorRelease): Promise<void> {
    await this.store.putError(requestId, { code: error.code, message: error.message });
  }
}
