/**
 * Reading a deployed function's configuration from its environment, once per cold start, against a
 * schema. The CDK app sets these variables (names in `core/deployment/cloud-names.ts`); a missing or
 * bad one fails the first invocation with one line naming every offending variable, instead of a
 * confusing SDK error on some later request.
 */
import { z } from 'zod';
import { ENV } from '../../core/deployment/cloud-names';
import { InputError } from '../../core/errors';
import { MAX_DEADLINE_MS, MIN_DEADLINE_MS } from './limits';

const required = (what: string) =>
  z.string({ error: `is not set; it must hold ${what}` }).min(1, { error: `is empty; it must hold ${what}` });

export const modelVariable = { [ENV.model]: required('the name of the model this deployment serves') };

export const bundleVariables = {
  [ENV.bundleBucket]: required('the S3 bucket holding the bundles'),
  [ENV.bundlePrefix]: z
    .string({ error: 'is not set; it must hold the key prefix of the bundles, ending in "/" (or be empty)' })
    .refine((prefix) => prefix === '' || prefix.endsWith('/'), { error: 'must end in "/" (or be empty)' }),
};

export const resultsTableVariable = { [ENV.resultsTable]: required('the name of the results table') };
export const configsTableVariable = { [ENV.configsTable]: required('the name of the configs table') };

export const queueVariables = {
  [ENV.queueUrl]: required('the SQS URL of the request queue'),
  [ENV.deadLetterQueueUrl]: required("the SQS URL of the request queue's dead-letter queue"),
};

export const deadlineVariable = {
  [ENV.defaultDeadlineMs]: z.coerce
    .number({ error: `must be a whole number of milliseconds from ${MIN_DEADLINE_MS} to ${MAX_DEADLINE_MS}` })
    .int({ error: `must be a whole number of milliseconds from ${MIN_DEADLINE_MS} to ${MAX_DEADLINE_MS}` })
    .min(MIN_DEADLINE_MS, { error: `must be at least ${MIN_DEADLINE_MS} ms` })
    .max(MAX_DEADLINE_MS, { error: `must be at most ${MAX_DEADLINE_MS} ms` })
    .optional(),
};

/**
 * Reads the variables `shape` names from `env`; throws InputError naming each missing or invalid
 * one (`APPARATE_QUEUE_URL is not set; it must hold ...`).
 */
export function readEnvironment<Shape extends z.ZodRawShape>(
  shape: Shape,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<z.ZodObject<Shape>> {
  const values = Object.fromEntries(Object.keys(shape).map((name) => [name, env[name]]));
  const parsed = z.object(shape).safeParse(values);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.map(String).join('.')} ${issue.message}`,
    );
    throw new InputError(`the function's environment is incomplete: ${problems.join('; ')}`);
  }
  return parsed.data;
}
