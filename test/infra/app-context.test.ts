import { App } from 'aws-cdk-lib';
import { InputError } from '../../core/errors';
import { DEFAULT_APP_MODEL, settingsFromContext } from '../../infra/app-context';

describe('app settings from context', () => {
  it('deploys the image fixture model in a stack named after it when nothing is given', () => {
    // Given an app with no context
    const settings = settingsFromContext(new App());

    // Then the defaults apply and every other prop is left to the construct
    expect(settings).toEqual({
      stackName: `Apparate-${DEFAULT_APP_MODEL}`,
      props: { modelName: DEFAULT_APP_MODEL },
    });
  });

  it("turns the command line's strings into the props' types", () => {
    // Given context as `cdk deploy -c key=value` passes it: all strings
    const app = new App({
      context: {
        model: 'spam-bert',
        stackName: 'Spam',
        minWorkers: '0',
        accuracyConstraint: '0.97',
        apiAuth: 'iam',
        retainData: 'false',
        controllerPeriodMinutes: '5',
      },
    });

    // When the settings are read
    const { stackName, props } = settingsFromContext(app);

    // Then numbers, booleans and the period have their types
    expect(stackName).toBe('Spam');
    expect(props).toMatchObject({
      modelName: 'spam-bert',
      minWorkers: 0,
      accuracyConstraint: 0.97,
      apiAuth: 'iam',
      retainData: false,
    });
    expect(props.controllerPeriod?.toMinutes()).toBe(5);
  });

  it('fails a number that is not one, naming the context key', () => {
    const app = new App({ context: { maxWorkers: 'four' } });
    expect(() => settingsFromContext(app)).toThrow(InputError);
    expect(() => settingsFromContext(app)).toThrow('context maxWorkers must be a number, got "four"');
  });
});
