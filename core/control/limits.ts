/**
 * The one table of the limits a deployment is configured with: the accuracy constraint and the
 * ramp budget, each with its range and default. The bundle manifest, the controller's environment,
 * the CDK props, the local stack's and the commands' options and the preparation all check against
 * this table (with `limitSchema`, `inLimit`, `checkLimit`, or as a CLI number rule), so a value one
 * of them accepts, every other accepts too.
 *
 * Ranges exclude their lower end: a constraint of 0.5 or less asks for no better than a coin toss
 * (any exit would do), and a ramp budget of 0 leaves no room for a single ramp; above the upper
 * end, agreement cannot exceed 1, and ramps costing more than half the plain model save nothing
 * an early exit could win back.
 */
import { z } from 'zod';
import { InputError } from '../errors';

export interface Limit {
  /** How messages name it. */
  readonly name: string;
  readonly default: number;
  /** Excluded. */
  readonly min: number;
  /** Included. */
  readonly max: number;
}

/** The least agreement of released answers with the full model, over a window. */
export const ACCURACY_CONSTRAINT: Limit = { name: 'accuracy constraint', default: 0.99, min: 0.5, max: 1 };

/** The latency all active ramps may add, as a share of the plain model's at the same batch size. */
export const RAMP_BUDGET: Limit = { name: 'ramp budget', default: 0.02, min: 0, max: 0.5 };

/** The range in interval notation, for messages: `(0.5, 1]`. */
export function limitRange(limit: Limit): string {
  return `(${limit.min}, ${limit.max}]`;
}

/** Whether `value` is a number within the limit. */
export function inLimit(limit: Limit, value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value > limit.min && value <= limit.max;
}

/** The limit as a zod schema, for documents that carry the value (the bundle manifest). */
export function limitSchema(limit: Limit): z.ZodNumber {
  return z.number().gt(limit.min).max(limit.max);
}

/** `value` when it is within the limit, else an `InputError` saying what is allowed. */
export function checkLimit(limit: Limit, value: unknown, what: string = limit.name): number {
  if (!inLimit(limit, value)) {
    throw new InputError(`${what} must be a number in ${limitRange(limit)}, got ${JSON.stringify(value)}`);
  }
  return value;
}
