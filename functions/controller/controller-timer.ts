/**
 * Runs the controller on a timer where no scheduler does it for us (the local stack; on AWS an
 * EventBridge rule invokes the handler). Runs never overlap: the next one is scheduled when the
 * previous one ends, so a slow run delays the next instead of piling up beside it. Runs could
 * overlap safely (the state item's conditional write lets only one act on a set of logs), but
 * overlapping runs only waste work.
 */
import { InputError } from '../../core/errors';
import { messageOf } from '../../core/errors';
import type { Logger } from '../../core/util/json-lines-logger';

export interface ControllerTimerOptions {
  /** Time from the end of one run to the start of the next, ms. */
  readonly periodMs: number;
  /** One controller run (for every model the stack serves). */
  readonly run: () => Promise<unknown>;
  /** Receives a line for each failed run; the timer carries on. */
  readonly logger: Logger;
  /** Whether the first run starts at once instead of after one period. @default false */
  readonly runAtStart?: boolean;
}

export interface ControllerTimer {
  /** Runs now, after the run in progress (if any), and resolves when done; never rejects. */
  runNow(): Promise<void>;
  /** Stops scheduling and waits for a run in progress. */
  stop(): Promise<void>;
}

/** Starts running `run` every `periodMs`, one run at a time, until `stop`. */
export function startControllerTimer(options: ControllerTimerOptions): ControllerTimer {
  const { periodMs, run, logger } = options;
  if (!(Number.isFinite(periodMs) && periodMs > 0)) {
    throw new InputError(`controller timer periodMs must be a positive number of ms, got ${periodMs}`);
  }
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let chain: Promise<void> = Promise.resolve();

  const runSerially = (): Promise<void> => {
    chain = chain.then(async () => {
      if (stopped) return;
      try {
        await run();
      } catch (error) {
        logger.log('error', 'controller timer run failed', { error: messageOf(error) });
      }
    });
    return chain;
  };
  const schedule = (delayMs: number): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      void runSerially().then(() => schedule(periodMs));
    }, delayMs);
    // The stack's servers keep the process alive; the timer alone must not.
    timer.unref();
  };
  schedule(options.runAtStart === true ? 0 : periodMs);

  return {
    runNow: runSerially,
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await chain;
    },
  };
}
