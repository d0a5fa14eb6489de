/**
 * Reading typed option values. Every numeric option goes through here so that a bad value always
 * produces the same kind of one-line message: the option, the value given, and the allowed range.
 */
import { InputError } from '../core/errors';
import { parseInputShapes, type InputShapes } from '../core/onnx/input-shapes';

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

/** The pinned input sizes `--input-shape` gives, or undefined when the option is absent. */
export function inputShapeOption(values: Record<string, unknown>): InputShapes | undefined {
  const raw = values['input-shape'];
  return typeof raw === 'string' ? parseInputShapes(raw) : undefined;
}

/** The declaration of `--input-shape`, shared by the commands that analyse a model. */
export const INPUT_SHAPE_OPTION = {
  type: 'string',
  description:
    'sizes for input axes the model leaves symbolic, after the batch axis: NAME=D1,D2,... (several separated by spaces)',
} as const;
