import { InputError } from '../../../core/errors';
import { startControllerTimer } from '../../../functions/controller/controller-timer';
import type { Logger } from '../../../core/util/json-lines-logger';

function keptLogger(): { logger: Logger; messages: string[] } {
  const messages: string[] = [];
  return { logger: { log: (_level, message) => messages.push(message) }, messages };
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((done) => setTimeout(done, 2));
  }
}

describe('the controller timer', () => {
  it('runs again and again, never two runs at once, even when a run outlasts the period', async () => {
    // Given a run slower than the period, and calls to run now in between
    let running = 0;
    let mostAtOnce = 0;
    let runs = 0;
    const { logger } = keptLogger();
    const timer = startControllerTimer({
      periodMs: 1,
      logger,
      run: async () => {
        running += 1;
        mostAtOnce = Math.max(mostAtOnce, running);
        await new Promise((done) => setTimeout(done, 15));
        running -= 1;
        runs += 1;
      },
    });

    // When it has run a few times, with extra runs asked for meanwhile
    const asked = [timer.runNow(), timer.runNow()];
    await until(() => runs >= 5);
    await Promise.all(asked);
    await timer.stop();

    // Then the runs took turns
    expect(mostAtOnce).toBe(1);
    expect(running).toBe(0);
  });

  it('logs a failed run and keeps going', async () => {
    // Given a run that fails the first time
    let calls = 0;
    const { logger, messages } = keptLogger();
    const timer = startControllerTimer({
      periodMs: 1,
      logger,
      run: () => {
        calls += 1;
        return calls === 1 ? Promise.reject(new Error('dynamo unavailable')) : Promise.resolve();
      },
    });

    // When it has run again after the failure
    await until(() => calls >= 3);
    await timer.stop();

    // Then the failure was logged once and did not stop the timer
    expect(messages).toEqual(['controller timer run failed']);
  });

  it('waits for the run in progress when stopped, then runs no more', async () => {
    // Given a run in progress
    let release: () => void = () => undefined;
    let finished = false;
    let started = 0;
    const timer = startControllerTimer({
      periodMs: 1,
      logger: keptLogger().logger,
      run: async () => {
        started += 1;
        await new Promise<void>((done) => (release = done));
        finished = true;
      },
    });
    await until(() => started === 1);

    // When the timer is stopped while it runs
    const stopping = timer.stop();
    release();
    await stopping;

    // Then stop resolved after the run finished, and nothing starts later
    expect(finished).toBe(true);
    await new Promise((done) => setTimeout(done, 20));
    await timer.runNow();
    expect(started).toBe(1);
  });

  it('refuses a period that is not a positive number of ms', () => {
    // Given a zero period, then the timer does not start
    expect(() =>
      startControllerTimer({ periodMs: 0, logger: keptLogger().logger, run: () => Promise.resolve() }),
    ).toThrow(InputError);
  });
});
