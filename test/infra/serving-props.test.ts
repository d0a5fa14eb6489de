import { join } from 'node:path';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { InputError } from '../../core/errors';
import { ApparateServing, type ApparateServingProps } from '../../infra/apparate-serving';
import { resolveServingProps } from '../../infra/serving-props';

const STUB = join(__dirname, 'fixtures', 'stub-handler.ts');

/**
 * Builds the construct in a fresh stack. A bad prop must throw here, in the constructor, before
 * anything is bundled or synthesised.
 */
function build(props: Partial<ApparateServingProps>): ApparateServing {
  const stack = new Stack(new App(), 'PropsTest');
  return new ApparateServing(stack, 'Serving', {
    modelName: 'mnist-resnet',
    functionEntries: { ingest: STUB, result: STUB, controller: STUB },
    ...props,
  });
}

describe('ApparateServing props', () => {
  it('fills every default the docs promise when only the model is given', () => {
    // When only the model name is given
    const resolved = resolveServingProps({ modelName: 'mnist-resnet' });

    // Then each prop takes its documented default
    expect(resolved).toMatchObject({
      accuracyConstraint: 0.99,
      rampBudget: 0.02,
      instanceType: 'g5.xlarge',
      minWorkers: 1,
      maxWorkers: 4,
      backlogPerInstance: 200,
      defaultDeadlineMs: 5000,
      apiAuth: 'apiKey',
      throttlingRateLimit: 100,
      throttlingBurstLimit: 200,
      retainData: true,
      bundlePath: undefined,
      alarmEmail: undefined,
      vpc: undefined,
    });
    expect(resolved.controllerPeriod.toMinutes()).toBe(1);
    expect(resolved.maxMessageAge.toSeconds()).toBe(60);
  });

  it('accepts the edges of every range', () => {
    // When each prop is at an inclusive edge of its range
    const resolved = resolveServingProps({
      modelName: 'a',
      accuracyConstraint: 1,
      rampBudget: 0.5,
      instanceType: 'p5.48xlarge',
      minWorkers: 0,
      maxWorkers: 20,
      controllerPeriod: Duration.hours(1),
      backlogPerInstance: 1,
      defaultDeadlineMs: 29_000,
      apiAuth: 'iam',
      maxMessageAge: Duration.seconds(10),
      alarmEmail: 'ops@example.com',
    });

    // Then they are kept as given
    expect(resolved).toMatchObject({ accuracyConstraint: 1, rampBudget: 0.5, minWorkers: 0, maxWorkers: 20 });
  });

  it.each<[string, Partial<ApparateServingProps>, string]>([
    [
      'fails a model name with capitals',
      { modelName: 'MNIST' },
      'modelName must be 1 to 64 lower-case letters',
    ],
    ['fails a model name starting with a dash', { modelName: '-mnist' }, 'got "-mnist"'],
    ['fails a model name over 64 characters', { modelName: 'm'.repeat(65) }, 'modelName must be 1 to 64'],
    [
      'fails an accuracy constraint of 0.5',
      { accuracyConstraint: 0.5 },
      'accuracyConstraint must be a number in (0.5, 1], got 0.5',
    ],
    [
      'fails an accuracy constraint above 1',
      { accuracyConstraint: 1.01 },
      'accuracyConstraint must be a number in (0.5, 1], got 1.01',
    ],
    ['fails a ramp budget of 0', { rampBudget: 0 }, 'rampBudget must be a number in (0, 0.5], got 0'],
    [
      'fails a ramp budget above 0.5',
      { rampBudget: 0.6 },
      'rampBudget must be a number in (0, 0.5], got 0.6',
    ],
    [
      'fails a CPU instance type',
      { instanceType: 'c5.xlarge' },
      'instanceType must be an NVIDIA GPU instance type of family g4dn, g5',
    ],
    ['fails a Graviton GPU instance type', { instanceType: 'g5g.xlarge' }, 'got "g5g.xlarge"'],
    [
      'fails a malformed instance type',
      { instanceType: 'g5' },
      'instanceType must be an NVIDIA GPU instance type',
    ],
    ['fails negative minWorkers', { minWorkers: -1 }, 'minWorkers must be an integer from 0 to 20, got -1'],
    [
      'fails fractional minWorkers',
      { minWorkers: 1.5 },
      'minWorkers must be an integer from 0 to 20, got 1.5',
    ],
    [
      'fails maxWorkers of 0',
      { minWorkers: 0, maxWorkers: 0 },
      'maxWorkers must be an integer from 1 to 20, got 0',
    ],
    ['fails maxWorkers above 20', { maxWorkers: 21 }, 'maxWorkers must be an integer from 1 to 20, got 21'],
    [
      'fails maxWorkers under minWorkers',
      { minWorkers: 3, maxWorkers: 2 },
      'maxWorkers must be at least minWorkers (3), got 2',
    ],
    [
      'fails a controller period under a minute',
      { controllerPeriod: Duration.seconds(30) },
      'controllerPeriod must be from 1 minute to 1 hour, got 30 seconds',
    ],
    [
      'fails a controller period over an hour',
      { controllerPeriod: Duration.minutes(61) },
      'controllerPeriod must be from 1 minute to 1 hour, got 1 hour 1 minute',
    ],
    [
      'fails a controller period of part minutes',
      { controllerPeriod: Duration.seconds(90) },
      'controllerPeriod must be a whole number of minutes',
    ],
    [
      'fails a backlog target of 0',
      { backlogPerInstance: 0 },
      'backlogPerInstance must be an integer from 1 to 100000, got 0',
    ],
    [
      'fails a default deadline over 29 s',
      { defaultDeadlineMs: 30_000 },
      'defaultDeadlineMs must be an integer from 1 to 29000, got 30000',
    ],
    [
      'fails an unknown auth mode',
      { apiAuth: 'cognito' as never },
      `apiAuth must be 'iam' or 'apiKey', got "cognito"`,
    ],
    [
      'fails a throttling rate of 0',
      { throttlingRateLimit: 0 },
      'throttlingRateLimit must be an integer from 1 to 10000, got 0',
    ],
    [
      'fails a throttling burst above 5000',
      { throttlingBurstLimit: 5001 },
      'throttlingBurstLimit must be an integer from 1 to 5000, got 5001',
    ],
    [
      'fails a message-age alarm under 10 s',
      { maxMessageAge: Duration.seconds(5) },
      'maxMessageAge must be from 10 seconds to 1 hour, got 5 seconds',
    ],
    [
      'fails an alarm email without a domain',
      { alarmEmail: 'ops' },
      'alarmEmail must be an email address such as ops@example.com, got "ops"',
    ],
    [
      'fails a bundle path with no manifest',
      { bundlePath: __dirname },
      'bundlePath must be a bundle directory holding manifest.json',
    ],
    ['fails a bundle path that does not exist', { bundlePath: '/no/such/bundle' }, 'got "/no/such/bundle"'],
    [
      'fails a bundle of another model',
      { bundlePath: join(__dirname, 'fixtures', 'bundle') },
      'bundlePath must be a bundle of model "mnist-resnet"',
    ],
  ])('%s', (_name, props, message) => {
    // When the construct is built with the bad prop, then it throws at once, naming prop, range and value
    expect(() => build(props)).toThrow(InputError);
    expect(() => build(props)).toThrow(message);
  });
});
