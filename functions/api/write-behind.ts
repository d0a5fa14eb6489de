/**
 * Durable writes kept off a response's path: each write starts on the next turn of the event loop
 * (after the work already due, such as queueing the request it records) and the response does
 * not wait for it; a failed attempt is retried with a growing pause, and a write that fails every
 * attempt is counted and reported, never dropped silently. `drain` waits for every write in
 * flight, for hosts that freeze between invocations (Lambda) or are shutting down.
 */
export interface WriteBehindOptions {
  /** Attempts per write, the first included. @default 3 */
  readonly attempts?: number;
  /** Pause before the first retry, doubled before each further one, ms. @default 20 */
  readonly retryPauseMs?: number;
  /** A write that failed every attempt. */
  readonly onFailure: (what: string, error: unknown, fields: Record<string, unknown>) => void;
}

/** Counts since start: writes begun, attempts retried, writes given up on. */
export interface WriteBehindCounts {
  started: number;
  retried: number;
  failed: number;
}

export class WriteBehind {
  readonly counts: WriteBehindCounts = { started: 0, retried: 0, failed: 0 };
  private readonly attempts: number;
  private readonly retryPauseMs: number;
  private readonly inFlight = new Set<Promise<boolean>>();
  /** Writes put off by `runLater` and not yet due, each with what starts it now. */
  private readonly deferred = new Map<NodeJS.Timeout, () => void>();

  constructor(private readonly options: WriteBehindOptions) {
    this.attempts = options.attempts ?? 3;
    this.retryPauseMs = options.retryPauseMs ?? 20;
  }

  /** Starts a write; the promise says whether it succeeded and never rejects. */
  run(what: string, fields: Record<string, unknown>, write: () => Promise<unknown>): Promise<boolean> {
    this.counts.started += 1;
    const attempt = async (): Promise<boolean> => {
      await new Promise((resolve) => setImmediate(resolve));
      let pauseMs = this.retryPauseMs;
      for (let tries = 1; ; tries++) {
        try {
          await write();
          return true;
        } catch (error) {
          if (tries >= this.attempts) {
            this.counts.failed += 1;
            this.options.onFailure(what, error, { ...fields, attempts: tries });
            return false;
          }
          this.counts.retried += 1;
          await new Promise((resolve) => setTimeout(resolve, pauseMs));
          pauseMs *= 2;
        }
      }
    };
    const running = attempt();
    this.inFlight.add(running);
    void running.finally(() => this.inFlight.delete(running));
    return running;
  }

  /**
   * Starts a write after `delayMs` unless `needed()` then says it is no longer needed (another
   * write made it redundant), so a record that is usually superseded within moments costs nothing.
   * `drain` starts every write still put off.
   */
  runLater(
    delayMs: number,
    needed: () => boolean,
    what: string,
    fields: Record<string, unknown>,
    write: () => Promise<unknown>,
  ): void {
    const start = (): void => {
      clearTimeout(timer);
      this.deferred.delete(timer);
      if (needed()) void this.run(what, fields, write);
    };
    const timer = setTimeout(start, delayMs);
    timer.unref();
    this.deferred.set(timer, start);
  }

  /** Resolves once every write started or put off so far has succeeded or been given up on. */
  async drain(): Promise<void> {
    for (const start of [...this.deferred.values()]) start();
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }
}
