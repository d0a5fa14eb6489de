/**
 * What a task's API must know of each variant's deployment, handed from the CDK app to the ingest
 * and result functions as one JSON environment variable (`ENV.taskVariants`). On AWS each variant
 * is its own deployment with its own queue, tables and bundle bucket, so a request for the task is
 * queued to the chosen variant's queue and recorded in that variant's results table, where the
 * variant's workers answer it.
 */
import { z } from 'zod';
import { InputError, parseInput } from '../errors';
import { taskIdSchema } from '../fleet/tasks';

const resourceName = (what: string) =>
  z.string({ error: `must be ${what}` }).min(1, { error: `must be ${what}, not empty` });

/** One variant's resources, as the task's functions use them. */
export const taskVariantResourcesSchema = z
  .object({
    queueUrl: resourceName("the SQS URL of the variant's request queue"),
    deadLetterQueueUrl: resourceName("the SQS URL of the variant's dead-letter queue"),
    resultsTable: resourceName("the name of the variant's results table"),
    configsTable: resourceName("the name of the variant's configs table"),
    bundleBucket: resourceName("the S3 bucket holding the variant's bundle"),
  })
  .strict();

export type TaskVariantResources = z.infer<typeof taskVariantResourcesSchema>;

/** Variant names sit in paths and keys: the same rule as model names. */
const variantNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]*$/, 'a variant name is lower-case letters, digits and "-"')
  .max(64, 'a variant name is at most 64 characters');

export const taskVariantsSchema = z
  .record(variantNameSchema, taskVariantResourcesSchema)
  .refine((variants) => Object.keys(variants).length > 0, 'names no variant');

export type TaskVariantsResources = Readonly<Record<string, TaskVariantResources>>;

/**
 * Parses the variable's JSON text; throws InputError saying what is wrong and what it must hold.
 * The task's own name may not name a variant, or a path would be ambiguous.
 */
export function parseTaskVariants(task: string, text: string): TaskVariantsResources {
  const checkedTask = taskIdSchema.safeParse(task);
  if (!checkedTask.success) {
    throw new InputError(`task ${JSON.stringify(task)}: ${checkedTask.error.issues[0]?.message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InputError(
      'task variants must be a JSON object of variant → { queueUrl, deadLetterQueueUrl, resultsTable, configsTable, bundleBucket }',
    );
  }
  const variants = parseInput(taskVariantsSchema, value, 'task variants');
  if (Object.hasOwn(variants, task)) {
    throw new InputError(`task ${task} cannot also name one of its variants`);
  }
  return variants;
}
