/**
 * The one way a deployed function reads its configuration: environment variables set by the CDK
 * app (names in `core/deployment/cloud-names.ts`), read once per cold start against a zod shape
 * that maps each variable name to its kind. A missing or malformed variable fails that first
 * invocation with one `InputError` naming every offending variable and what it must hold, instead
 * of a confusing SDK error on some later request, or configs published for the wrong model.
 *
 * The kinds below say what a variable holds in words, so every message reads the same way:
 * `APPARATE_MODEL: is not set; it must hold the model id this deployment serves`,
 * `APPARATE_RAMP_BUDGET: must be a number in (0, 0.5], got "2%"`. Values are trimmed (white space
 * around a value is always a mistake). The accuracy constraint and the ramp budget are read with
 * `limitVariable`, so their ranges are those of `core/control/limits.ts`.
 */
import { z } from 'zod';
import { ENV } from '../core/deployment/cloud-names';
import { inLimit, limitRange, type Limit } from '../core/control/limits';
import { parseInput } from '../core/errors';

/** A variable that must be set to some text; `what` describes what it holds. */
export function requiredText(what: string) {
  return z
    .string({
      error: (issue) =>
        issue.input === undefined ? `is not set; it must hold ${what}` : `must hold ${what}`,
    })
    .trim()
    .min(1, { error: `is empty; it must hold ${what}`, abort: true });
}

/** A DynamoDB table's name. */
export function tableNameVariable(table: string) {
  const what = `the name of the ${table} table`;
  return requiredText(what).regex(/^[A-Za-z0-9_.-]{3,255}$/, {
    error: (issue) =>
      `must be a DynamoDB table name (3 to 255 letters, digits, _, - or .), got ${JSON.stringify(issue.input)}`,
  });
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/**
 * `text` as a number that `isAllowed` accepts, else an issue saying `what` it must be. Text that is
 * no plain decimal (`2%`, `0x1`, `1_000`) is refused rather than read by `Number`'s looser rules.
 */
function decimal(what: string, isAllowed: (value: number) => boolean) {
  return (text: string, context: Pick<z.RefinementCtx, 'addIssue'>): number => {
    const value = Number(text);
    if (!DECIMAL.test(text) || !isAllowed(value)) {
      context.addIssue({ code: 'custom', message: `must be ${what}, got ${JSON.stringify(text)}` });
      return z.NEVER;
    }
    return value;
  };
}

/** A decimal number that `isAllowed` accepts, described by `what` (`a number in (0.5, 1]`); unset or empty means undefined. */
export function optionalNumber(what: string, isAllowed: (value: number) => boolean) {
  const parse = decimal(what, isAllowed);
  return z
    .string()
    .trim()
    .optional()
    .transform((text, context) => (text === undefined || text === '' ? undefined : parse(text, context)));
}

/** A whole number from `min` to `max` that must be set; `unit` follows the range in messages. */
export function requiredInteger(min: number, max: number, unit = '') {
  const what = `a whole number from ${min} to ${max}${unit === '' ? '' : ` ${unit}`}`;
  return requiredText(what).transform(
    decimal(what, (value) => Number.isInteger(value) && value >= min && value <= max),
  );
}

/** An optional limit of `core/control/limits.ts`; unset means the caller's default. */
export function limitVariable(limit: Limit) {
  return optionalNumber(`a number in ${limitRange(limit)}`, (value) => inLimit(limit, value));
}

/** A JSON document that must be set and satisfy `schema`; `what` describes it. */
export function requiredJson<T extends z.ZodType>(what: string, schema: T) {
  return requiredText(what)
    .transform((text, context) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        context.addIssue({ code: 'custom', message: `must be ${what}, got text that is not JSON` });
        return z.NEVER;
      }
    })
    .pipe(schema);
}

/** The variables naming the model a deployment serves and where its bundles are. */
export const modelVariable = { [ENV.model]: requiredText('the model id this deployment serves') };

export const bundleVariables = {
  [ENV.bundleBucket]: requiredText('the S3 bucket holding the bundles'),
  /** Unset means no prefix; the manifest is `<prefix><model>/manifest.json`. */
  [ENV.bundlePrefix]: z
    .string()
    .optional()
    .transform((prefix) => prefix?.trim() ?? '')
    .refine((prefix) => prefix === '' || prefix.endsWith('/'), {
      error: 'must be empty or a key prefix ending in "/"',
    }),
};

export const resultsTableVariable = { [ENV.resultsTable]: tableNameVariable('results') };
export const configsTableVariable = { [ENV.configsTable]: tableNameVariable('configs') };
export const exitLogsTableVariable = { [ENV.exitLogsTable]: tableNameVariable('exit-logs') };

/**
 * Reads the variables `shape` names from `env`; throws InputError naming each missing or invalid
 * one and what it must hold (`the controller function's environment is not valid: APPARATE_MODEL:
 * is not set; ...`). `fn` names the function in that message.
 */
export function readEnvironment<Shape extends z.ZodRawShape>(
  fn: string,
  shape: Shape,
  env: Readonly<Record<string, string | undefined>> = process.env,
): z.infer<z.ZodObject<Shape>> {
  const values = Object.fromEntries(Object.keys(shape).map((name) => [name, env[name]]));
  return parseInput(z.object(shape), values, `the ${fn} function's environment`);
}
