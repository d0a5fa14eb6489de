/**
 * Tasks: what a client may name instead of a model. A task is served by a family of variants that
 * share one fixture data set (`dataset` in each model's model.json), so the mapping from task to
 * variants is read from the models or bundles a deployment serves, and only the task's own name
 * is written down here. A plan is made and published per task; its groups name the variants.
 */
import { z } from 'zod';
import { InputError } from '../errors';

/** The task names clients use, and the data set whose variants serve each one. */
export const TASK_DATASETS: Readonly<Record<string, string>> = Object.freeze({
  digits: 'mnist',
  spam: 'spam',
});

/** Task names: short lower-case words, so they sit safely in keys, paths and resource names. */
export const taskIdSchema = z
  .string()
  .regex(
    /^[a-z][a-z0-9-]{0,62}$/,
    'a task name is 1 to 63 lower-case letters, digits or "-", starting with a letter',
  );

/** What the mapping needs to know of a served model: its name and the data set it was trained on. */
export interface ServedVariant {
  readonly name: string;
  readonly dataset?: string | undefined;
}

/** Each task with at least one served variant, and its variants in name order. */
export type TaskVariants = ReadonlyMap<string, readonly string[]>;

/**
 * The tasks the served models make up. A model whose name is also a task name would make a path
 * ambiguous, so it is refused with what to rename.
 */
export function taskVariants(served: readonly ServedVariant[]): TaskVariants {
  const tasks = new Map<string, string[]>();
  for (const [task, dataset] of Object.entries(TASK_DATASETS)) {
    const variants = served
      .filter((model) => model.dataset === dataset)
      .map((model) => model.name)
      .sort();
    if (variants.length > 0) tasks.set(task, variants);
  }
  const clash = served.find((model) => tasks.has(model.name));
  if (clash !== undefined) {
    throw new InputError(
      `model ${clash.name} has the name of a task; task names (${[...tasks.keys()].join(', ')}) cannot name models`,
    );
  }
  return tasks;
}

/** The task a variant serves, if any. */
export function taskOfVariant(tasks: TaskVariants, variant: string): string | undefined {
  for (const [task, variants] of tasks) if (variants.includes(variant)) return task;
  return undefined;
}
