/**
 * Task routing that follows the published fleet plans: a `TaskDispatcher` fed with each task's
 * newest plan from the plan store. The store is read at most once per `refreshMs`, in the
 * background once a first read has succeeded, so a request waits for a table read only when the
 * routing has never read the plans (a cold start); a failed read keeps the plans already followed.
 */
import type { PlanStore } from '../../adapters/dynamo';
import { TaskDispatcher, type Route } from '../../core/fleet/task-dispatcher';
import type { TaskVariants } from '../../core/fleet/tasks';
import type { TaskRouting } from './ingest-handler';

export interface PlanRoutingOptions {
  readonly tasks: TaskVariants;
  readonly plans: Pick<PlanStore, 'latest'>;
  /** How stale the followed plans may get, ms. @default 5000 */
  readonly refreshMs?: number;
  /** @default Date.now */
  readonly nowMs?: () => number;
  readonly onError?: (message: string, fields: Record<string, unknown>) => void;
}

export class PlanRouting implements TaskRouting {
  readonly dispatcher: TaskDispatcher;
  private readonly refreshMs: number;
  private readonly nowMs: () => number;
  private readOnce = false;
  private readAtMs = -Infinity;
  private reading: Promise<void> | undefined;

  constructor(private readonly options: PlanRoutingOptions) {
    this.dispatcher = new TaskDispatcher(options.tasks);
    this.refreshMs = options.refreshMs ?? 5000;
    this.nowMs = options.nowMs ?? Date.now;
  }

  async route(name: string): Promise<Route | undefined> {
    if (this.dispatcher.tasks.has(name) && this.nowMs() - this.readAtMs >= this.refreshMs) {
      const reading = this.refresh();
      if (!this.readOnce) await reading;
    }
    return this.dispatcher.route(name);
  }

  tasks(): readonly string[] {
    return [...this.dispatcher.tasks.keys()];
  }

  /** Reads every task's newest plan now (one read at a time); never rejects. */
  refresh(): Promise<void> {
    this.reading ??= this.readAll().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  private async readAll(): Promise<void> {
    this.readAtMs = this.nowMs();
    for (const task of this.dispatcher.tasks.keys()) {
      try {
        const published = await this.options.plans.latest(task);
        if (published !== undefined) this.dispatcher.follow(published.plan);
        this.readOnce = true;
      } catch (error) {
        this.options.onError?.('fleet plan unreadable', { task, error: String(error) });
      }
    }
  }
}

/**
 * Routing by a dispatcher that its owner feeds with plans (the local stack, which must shift the
 * weights between starting new workers and draining old ones, so it does not let routing read the
 * plans on its own).
 */
export function dispatcherRouting(dispatcher: TaskDispatcher): TaskRouting {
  return {
    route: (name) => Promise.resolve(dispatcher.route(name)),
    tasks: () => [...dispatcher.tasks.keys()],
  };
}
