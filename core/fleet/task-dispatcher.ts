/**
 * Task-level dispatch: a request that names a task goes to one of the task's variants, chosen by
 * the weights of the newest plan this dispatcher follows (smooth weighted round robin, so the split
 * is deterministic and holds over every stretch of requests). A request that names a variant goes
 * to that variant. Each variant has its own queue and its own workers, which is what lets a worker
 * know the one variant it serves and lets the pool scale each variant on its own.
 *
 * Before a task has a plan, and under a plan that gives the task no positive weight (an empty plan
 * when nothing can be served), its variants share the requests equally: they are all served, so
 * none is wrong, and the first plan replaces the even split.
 */
import type { VersionedPlan } from './published-plan';
import type { TaskVariants } from './tasks';
import { SmoothWeightedChoice } from './weighted-choice';

/** Where a named request goes. */
export interface Route {
  readonly variant: string;
  /** The task the client named, when it named one. */
  readonly task?: string;
  /** The plan version whose weights chose the variant; absent for an even split or a named variant. */
  readonly planVersion?: number;
}

interface TaskState {
  readonly choice: SmoothWeightedChoice<string>;
  readonly planVersion: number | undefined;
}

export class TaskDispatcher {
  private readonly states = new Map<string, TaskState>();

  constructor(readonly tasks: TaskVariants) {
    for (const [task, variants] of tasks) {
      this.states.set(task, { choice: evenChoice(variants), planVersion: undefined });
    }
  }

  /**
   * Follows `published` if it is for a known task and newer than the plan followed now; returns
   * whether it did. Weights of variants the task does not serve here are left out.
   */
  follow(published: VersionedPlan): boolean {
    const task = published.plan.task;
    const state = this.states.get(task);
    const variants = this.tasks.get(task);
    if (state === undefined || variants === undefined) return false;
    if (state.planVersion !== undefined && published.version <= state.planVersion) return false;
    const weights = new Map<string, number>();
    for (const group of published.plan.groups) {
      if (group.workers > 0 && variants.includes(group.variant)) {
        weights.set(group.variant, (weights.get(group.variant) ?? 0) + group.weight);
      }
    }
    const options = [...weights].filter(([, weight]) => weight > 0);
    this.states.set(task, {
      choice:
        options.length === 0
          ? evenChoice(variants)
          : new SmoothWeightedChoice(options.map(([value, weight]) => ({ value, weight }))),
      planVersion: published.version,
    });
    return true;
  }

  /** The route of a request naming `name`: a task's chosen variant, the variant itself, or undefined. */
  route(name: string): Route | undefined {
    const state = this.states.get(name);
    if (state !== undefined) {
      const variant = state.choice.next();
      return state.planVersion === undefined
        ? { variant, task: name }
        : { variant, task: name, planVersion: state.planVersion };
    }
    for (const variants of this.tasks.values()) if (variants.includes(name)) return { variant: name };
    return undefined;
  }

  /** The plan version a task follows, if any. */
  planVersion(task: string): number | undefined {
    return this.states.get(task)?.planVersion;
  }

  /** Each variant's share of a task's requests now. */
  shares(task: string): Map<string, number> | undefined {
    return this.states.get(task)?.choice.shares();
  }
}

function evenChoice(variants: readonly string[]): SmoothWeightedChoice<string> {
  return new SmoothWeightedChoice(variants.map((value) => ({ value, weight: 1 })));
}
