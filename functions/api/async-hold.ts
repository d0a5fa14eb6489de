/**
 * How long an admitted async request keeps its place in the backlog. The ingest side answers it
 * 202 at once, so unlike a sync request's wait nothing there ends when it is served; without a
 * hold, async requests would never count against the backlog, and a burst of them would be queued
 * to miss their deadlines while sync requests behind them were refused.
 *
 * Where answers are pushed (in process, Redis), the request's own answers tell: the place is
 * released, as answered, when its final answer or an error is published, so async answers also
 * teach admission how fast the backlog drains. Where nothing pushes (AWS), the place is held for
 * the wait admission predicted for it. Either way it is released, as unanswered, at the request's
 * deadline at the latest: after that the worker only answers `deadline_exceeded`.
 */
import type { AnswerChannel } from '../../adapters/answers';

export interface AsyncHoldOptions {
  /** Pushed answers; without them the place is held for `predictedWaitMs`. */
  readonly answers: Pick<AnswerChannel, 'subscribe'> | undefined;
  readonly requestId: string;
  /** The request's absolute deadline, epoch ms. */
  readonly deadlineAtMs: number;
  /** What admission predicted the backlog ahead of it takes, ms; undefined when it knew no rate. */
  readonly predictedWaitMs: number | undefined;
  /** Releases the place; called exactly once, saying whether an answer ended it. */
  readonly release: (answered: boolean) => void;
  /** @default Date.now */
  readonly nowMs?: () => number;
}

/** Ends a hold before its request was queued (the send failed): the place is released, unanswered. */
export type AbandonHold = () => void;

/**
 * Starts holding an async request's place. Resolves once a pushed answer can no longer be missed,
 * so the caller subscribes here before it queues the request.
 */
export async function holdUntilAnswered(options: AsyncHoldOptions): Promise<AbandonHold> {
  const nowMs = options.nowMs ?? Date.now;
  let done = false;
  let unsubscribe: () => void = () => undefined;
  const end = (answered: boolean): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    unsubscribe();
    options.release(answered);
  };
  const leftMs = Math.max(0, options.deadlineAtMs - nowMs());
  const holdMs = options.answers !== undefined ? leftMs : Math.min(leftMs, options.predictedWaitMs ?? 0);
  // Declared after `end`, which only runs once the timer exists (from it, a listener or the caller).
  const timer = setTimeout(() => end(false), holdMs);
  timer.unref();
  if (options.answers !== undefined) {
    try {
      const stop = await options.answers.subscribe(options.requestId, (event) => {
        if (event.kind !== 'early') end(true);
      });
      if (done) stop();
      else unsubscribe = stop;
    } catch {
      // Not listening: the place is held until the deadline, which errs on refusing too soon.
    }
  }
  return () => end(false);
}
