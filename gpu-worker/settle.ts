/**
 * The last step of serving a message, shared by the worker and the plain server: a message is
 * acknowledged only once its answers are stored, and handed back to the queue (to be received
 * again) when they could not be; an error answer is stored, then settled the same way. A failed
 * acknowledgement or hand-back is logged, never thrown: the answer is stored and a redelivery is
 * answered again, idempotently, and a message not handed back returns once its visibility lapses.
 */
import type { ReceivedMessage, RequestQueue } from '../adapters/queue';
import type { ResultSink } from '../core/serving/result-sink';
import { messageOf, type Logger } from './logger';

export interface Settler {
  readonly queue: Pick<RequestQueue, 'ack' | 'release'>;
  readonly logger: Logger;
}

/** Acknowledges a message whose answers are stored. */
export async function ack({ queue, logger }: Settler, message: ReceivedMessage): Promise<void> {
  try {
    await queue.ack(message);
  } catch (error) {
    logger.log('warn', 'ack failed', { requestId: message.request.requestId, error: messageOf(error) });
  }
}

/** Hands a message back to the queue for another try. */
export async function handBack(
  { queue, logger }: Settler,
  message: ReceivedMessage,
  why: string,
): Promise<void> {
  try {
    await queue.release(message);
  } catch (error) {
    logger.log('warn', 'release failed', {
      requestId: message.request.requestId,
      why,
      error: messageOf(error),
    });
  }
}

/**
 * Acknowledges the message once `stored` resolves, or logs why not and hands it back; resolves
 * true when it was acknowledged.
 */
export async function settleStored(
  settler: Settler,
  message: ReceivedMessage,
  stored: Promise<unknown>,
  why: string,
): Promise<boolean> {
  try {
    await stored;
  } catch (error) {
    settler.logger.log('warn', 'answer not stored', {
      requestId: message.request.requestId,
      error: messageOf(error),
    });
    await handBack(settler, message, why);
    return false;
  }
  await ack(settler, message);
  return true;
}

/** Answers a request with an error (logged as refused), then settles its message. */
export function answerError(
  settler: Settler & { readonly sink: Pick<ResultSink, 'error'> },
  message: ReceivedMessage,
  code: string,
  text: string,
): Promise<boolean> {
  const { requestId } = message.request;
  settler.logger.log('info', 'request refused', { requestId, code, reason: text });
  return settleStored(
    settler,
    message,
    settler.sink.error(requestId, { code, message: text }),
    'store failed',
  );
}
