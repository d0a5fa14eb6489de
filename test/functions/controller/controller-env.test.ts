import type { ScheduledEvent } from 'aws-lambda';
import { ENV } from '../../../core/deployment/cloud-names';
import { InputError } from '../../../core/errors';
import { handler } from '../../../functions/controller';
import { readControllerEnv } from '../../../functions/controller/controller-env';

const complete = {
  [ENV.model]: 'mnist-resnet',
  [ENV.exitLogsTable]: 'apparate-exit-logs',
  [ENV.configsTable]: 'apparate-configs',
  [ENV.bundleBucket]: 'apparate-bundles',
};

function messageOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return (error as Error).message;
  }
  throw new Error('expected an InputError');
}

describe("the controller function's environment", () => {
  it('reads the required variables and leaves unset optional ones to their defaults', () => {
    // Given only the required variables, then the optional ones are absent or empty
    expect(readControllerEnv(complete)).toEqual({
      model: 'mnist-resnet',
      exitLogsTable: 'apparate-exit-logs',
      configsTable: 'apparate-configs',
      bundleBucket: 'apparate-bundles',
      bundlePrefix: '',
    });
  });

  it('reads the constraint, the budget and the prefix as given', () => {
    // Given every variable, then each is read as the number or string it holds
    const env = readControllerEnv({
      ...complete,
      [ENV.bundlePrefix]: 'bundles/',
      [ENV.accuracyConstraint]: '0.985',
      [ENV.rampBudget]: ' 0.03 ',
    });
    expect(env).toMatchObject({ bundlePrefix: 'bundles/', accuracyConstraint: 0.985, rampBudget: 0.03 });
  });

  it('names every missing variable and what it must hold', () => {
    // Given an environment without the model and the configs table
    const partial: Record<string, string> = { ...complete };
    delete partial[ENV.model];
    delete partial[ENV.configsTable];

    // Then the error names both, and only them
    const message = messageOf(() => readControllerEnv(partial));
    expect(message).toContain(`${ENV.model}: is not set; it must hold the model id this deployment serves`);
    expect(message).toContain(`${ENV.configsTable}: is not set; it must hold the name of the configs table`);
    expect(message).not.toContain(ENV.exitLogsTable);
  });

  it.each([
    [ENV.accuracyConstraint, '0.4', 'must be a number in (0.5, 1], got "0.4"'],
    [ENV.accuracyConstraint, 'high', 'must be a number in (0.5, 1], got "high"'],
    [ENV.rampBudget, '0', 'must be a number in (0, 0.5], got "0"'],
    [ENV.rampBudget, '2%', 'must be a number in (0, 0.5], got "2%"'],
    [ENV.bundlePrefix, 'bundles', 'must be empty or a key prefix ending in "/"'],
    [
      ENV.exitLogsTable,
      'exit logs',
      'must be a DynamoDB table name (3 to 255 letters, digits, _, - or .), got "exit logs"',
    ],
    [ENV.model, '  ', 'is empty; it must hold the model id this deployment serves'],
  ])('refuses %s=%j, saying what is allowed', (name, value, expected) => {
    // Given one malformed variable, then the error names it and what it must hold
    expect(messageOf(() => readControllerEnv({ ...complete, [name]: value }))).toContain(
      `${name}: ${expected}`,
    );
  });

  it('fails an invocation of the handler in an unconfigured environment, naming the variables', async () => {
    // Given a Lambda environment without the controller's variables
    const saved = { ...process.env };
    for (const name of Object.values(ENV)) delete process.env[name];
    try {
      // When EventBridge invokes the handler, then the invocation fails with what is missing
      const event = { id: 'e1', time: new Date().toISOString(), detail: {} } as ScheduledEvent;
      await expect(handler(event)).rejects.toThrow(`${ENV.model}: is not set`);
      await expect(handler(event)).rejects.toThrow(InputError);
    } finally {
      process.env = saved;
    }
  });
});
