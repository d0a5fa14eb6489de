/** The functions' one environment reader: what it reads, and the message for missing and bad variables. */
import { z } from 'zod';
import { ACCURACY_CONSTRAINT, RAMP_BUDGET } from '../../core/control/limits';
import { InputError } from '../../core/errors';
import {
  limitVariable,
  readEnvironment,
  requiredInteger,
  requiredJson,
  requiredText,
  tableNameVariable,
} from '../../functions/env';

const shape = {
  MODEL: requiredText('the model id'),
  TABLE: tableNameVariable('results'),
  WORKERS: requiredInteger(1, 8, 'workers'),
  CONSTRAINT: limitVariable(ACCURACY_CONSTRAINT),
  BUDGET: limitVariable(RAMP_BUDGET),
  GROUPS: requiredJson('a JSON list of group names', z.array(z.string()).min(1)),
};

const complete = { MODEL: ' mnist ', TABLE: 'results', WORKERS: '4', GROUPS: '["a"]' };

function failure(env: Record<string, string | undefined>): string {
  try {
    readEnvironment('test', shape, env);
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return (error as Error).message;
  }
  throw new Error('expected the environment to be refused');
}

describe("the functions' environment reader", () => {
  it('reads the variables the shape names, trimmed and typed, leaving unset optional ones undefined', () => {
    // Given a complete environment with an unrelated variable beside it
    const values = readEnvironment('test', shape, { ...complete, CONSTRAINT: '0.95', OTHER: 'x' });

    // Then each variable is its kind's value, and nothing else is read
    expect(values).toEqual({
      MODEL: 'mnist',
      TABLE: 'results',
      WORKERS: 4,
      CONSTRAINT: 0.95,
      BUDGET: undefined,
      GROUPS: ['a'],
    });
  });

  it('names a missing and a bad variable in one message, each with what it must hold', () => {
    // Given an environment without the model and with a constraint out of its range
    const message = failure({ ...complete, MODEL: undefined, CONSTRAINT: '0.4' });

    // Then one error names the function, both variables and what is allowed, and nothing else
    expect(message).toBe(
      "the test function's environment is not valid: MODEL: is not set; it must hold the model id; " +
        'CONSTRAINT: must be a number in (0.5, 1], got "0.4"',
    );
  });

  it.each([
    [{ MODEL: '  ' }, 'MODEL: is empty; it must hold the model id'],
    [{ TABLE: 'my table' }, 'TABLE: must be a DynamoDB table name (3 to 255 letters, digits, _, - or .)'],
    [{ WORKERS: '9' }, 'WORKERS: must be a whole number from 1 to 8 workers, got "9"'],
    [{ WORKERS: '2.5' }, 'WORKERS: must be a whole number from 1 to 8 workers, got "2.5"'],
    [{ BUDGET: '2%' }, 'BUDGET: must be a number in (0, 0.5], got "2%"'],
    [{ GROUPS: '[a]' }, 'GROUPS: must be a JSON list of group names, got text that is not JSON'],
    [{ GROUPS: '[]' }, 'GROUPS: Too small'],
  ])('refuses %j, saying what is allowed', (override, expected) => {
    expect(failure({ ...complete, ...override })).toContain(expected);
  });
});
