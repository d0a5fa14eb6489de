import { App } from 'aws-cdk-lib';
import { InputError } from '../../core/errors';
import { DEFAULT_APP_MODEL, settingsFromContext, taskSettingsFromContext } from '../../infra/app-context';

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

describe('task settings from context', () => {
  it('deploys no task unless one is named', () => {
    expect(taskSettingsFromContext(new App())).toBeUndefined();
  });

  it("deploys a task's profiled variants in a stack named after it, with the shared props typed", () => {
    // Given `cdk deploy -c task=digits -c maxWorkers=6 -c apiAuth=iam`
    const app = new App({ context: { task: 'digits', maxWorkers: '6', apiAuth: 'iam' } });

    // Then the variants are those the fleet controller can plan (the committed profiles)
    expect(taskSettingsFromContext(app)).toEqual({
      stackName: 'Apparate-task-digits',
      props: {
        task: 'digits',
        variants: ['mnist-resnet', 'mnist-resnet-medium', 'mnist-resnet-small'],
        maxWorkers: 6,
        apiAuth: 'iam',
      },
    });
    // And a list given on the command line replaces them, a bundles folder is passed on
    const listed = new App({
      context: { task: 'spam', variants: 'spam-bert, spam-bert-small', bundlesDir: 'b' },
    });
    expect(taskSettingsFromContext(listed)?.props).toEqual({
      task: 'spam',
      variants: ['spam-bert', 'spam-bert-small'],
      bundlesDir: 'b',
    });
  });

  it('refuses an unknown task, and settings that belong to one model, saying why', () => {
    expect(() => taskSettingsFromContext(new App({ context: { task: 'faces' } }))).toThrow(
      'context task must be one of digits, spam, got "faces"',
    );
    expect(() => taskSettingsFromContext(new App({ context: { task: 'digits', model: 'x' } }))).toThrow(
      /task and model exclude each other/,
    );
    expect(() => taskSettingsFromContext(new App({ context: { task: 'digits', minWorkers: '1' } }))).toThrow(
      /context minWorkers does not apply to a task/,
    );
  });
});
