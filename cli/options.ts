/**
 * Reading typed option values. Every numeric option goes through here so that a bad value always
 * produces the same kind of one-line message: the option, the value given, and the allowed range.
 */
import { InputError } from '../core/errors';

export interface NumberRule {
  readonly default: number;
  /** Lower bound; exclusive unless `minInclusive`. */
  readonly min?: number;
  readonly minInclusive?: boolean;
  readonly max?: number;
  readonly integer?: boolean;
}

function describeRange(rule: NumberRule): string {
  const low = rule.min === undefined ? '(-inf' : `${rule.minInclusive ? '[' : '('}${rule.min}`;
  const high = rule.max === undefined ? 'inf)' : `${rule.max}]`;
  return `${rule.integer ? 'an integer' : 'a number'} in ${low}, ${high}`;
}

/** The option's numeric value, or its default when absent. */
export function numberOption(values: Record<string, unknown>, name: string, rule: NumberRule): number {
  const raw = values[name];
  if (raw === undefined) return rule.default;
  const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : Number.NaN;
  const belowMin = rule.min !== undefined && (rule.minInclusive ? value < rule.min : value <= rule.min);
  const aboveMax = rule.max !== undefined && value > rule.max;
  if (!Number.isFinite(value) || belowMin || aboveMax || (rule.integer && !Number.isInteger(value))) {
    throw new InputError(
      `--${name} must be ${describeRange(rule)}, got ${typeof raw === 'string' ? raw : JSON.stringify(raw)}`,
    );
  }
  return value;
}

/** A required string option. */
export function requiredString(values: Record<string, unknown>, name: string, what: string): string {
  const raw = values[name];
  if (typeof raw !== 'string' || raw === '') throw new InputError(`--${name} <${what}> is required`);
  return raw;
}
