/**
 * The controller function's configuration: environment variables set by the CDK stack, read once
 * per cold start and checked by one schema, so a deployment with a missing or malformed variable
 * fails on its first invocation with a message naming the variable and what it must hold, instead
 * of publishing configs for the wrong model or table.
 */
import { z } from 'zod';
import { ENV } from '../../core/deployment/cloud-names';
import { InputError } from '../../core/errors';
import { ACCURACY_CONSTRAINT, inLimit, limitRange, RAMP_BUDGET } from '../../core/control/limits';

const required = (what: string) =>
  z
    .string({
      error: (issue) => (issue.input === undefined ? `is missing; set it to ${what}` : `must be ${what}`),
    })
    .trim()
    .min(1, { error: `is empty; set it to ${what}`, abort: true });

const tableName = required('a DynamoDB table name').regex(/^[A-Za-z0-9_.-]{3,255}$/, {
  error: 'must be a DynamoDB table name (3 to 255 letters, digits, _, - or .)',
});

/** A decimal number in an interval, from an optional variable (unset or empty means the default). */
const optionalNumber = (what: string, isAllowed: (value: number) => boolean) =>
  z
    .string()
    .trim()
    .optional()
    .transform((text, context) => {
      if (text === undefined || text === '') return undefined;
      const value = Number(text);
      if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text) || !isAllowed(value)) {
        context.addIssue({ code: 'custom', message: `must be ${what}, got ${JSON.stringify(text)}` });
        return z.NEVER;
      }
      return value;
    });

const controllerEnvSchema = z.object({
  [ENV.model]: required('the model id this deployment serves'),
  [ENV.exitLogsTable]: tableName,
  [ENV.configsTable]: tableName,
  [ENV.bundleBucket]: required('the S3 bucket holding the bundles'),
  [ENV.bundlePrefix]: z
    .string()
    .optional()
    .transform((prefix) => prefix ?? '')
    .refine((prefix) => prefix === '' || prefix.endsWith('/'), {
      error: 'must be empty or a key prefix ending in /',
    }),
  [ENV.accuracyConstraint]: optionalNumber(`a number in ${limitRange(ACCURACY_CONSTRAINT)}`, (value) =>
    inLimit(ACCURACY_CONSTRAINT, value),
  ),
  [ENV.rampBudget]: optionalNumber(`a number in ${limitRange(RAMP_BUDGET)}`, (value) =>
    inLimit(RAMP_BUDGET, value),
  ),
});

/** The controller's settings, by meaning rather than by variable name. */
export interface ControllerEnv {
  readonly model: string;
  readonly exitLogsTable: string;
  readonly configsTable: string;
  readonly bundleBucket: string;
  /** Empty or ending in `/`; the manifest is `<prefix><model>/manifest.json`. */
  readonly bundlePrefix: string;
  /** Unset: the design's 0.99. */
  readonly accuracyConstraint?: number;
  /** Unset: the bundle manifest's budget. */
  readonly rampBudget?: number;
}

/**
 * Reads the controller's variables from `env`. Throws InputError naming every missing or bad
 * variable and what it must hold.
 */
export function readControllerEnv(env: Readonly<Record<string, string | undefined>>): ControllerEnv {
  const parsed = controllerEnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.map(String).join('.')} ${issue.message}`,
    );
    throw new InputError(`controller environment is not valid: ${problems.join('; ')}`);
  }
  const values = parsed.data;
  const accuracyConstraint = values[ENV.accuracyConstraint];
  const rampBudget = values[ENV.rampBudget];
  return {
    model: values[ENV.model],
    exitLogsTable: values[ENV.exitLogsTable],
    configsTable: values[ENV.configsTable],
    bundleBucket: values[ENV.bundleBucket],
    bundlePrefix: values[ENV.bundlePrefix],
    ...(accuracyConstraint === undefined ? {} : { accuracyConstraint }),
    ...(rampBudget === undefined ? {} : { rampBudget }),
  };
}
