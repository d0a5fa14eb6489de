/**
 * A wake-up signal for long polls: waiters sleep until something changes or their time is up.
 * In-process queues use it so a receive that finds nothing returns as soon as a message arrives,
 * without polling on a timer.
 */
export class ChangeSignal {
  private readonly waiters = new Set<() => void>();

  /** Resolves on the next `notify()`, or after `ms` milliseconds, whichever comes first. */
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.waiters.add(wake);
    });
  }

  /** Wakes every current waiter. */
  notify(): void {
    for (const wake of [...this.waiters]) wake();
  }
}
