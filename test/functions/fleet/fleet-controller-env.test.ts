/** The fleet controller's environment: what the CDK app sets parses; a malformed value is named. */
import { ENV } from '../../../core/deployment/cloud-names';
import { InputError } from '../../../core/errors';
import { readFleetControllerEnv } from '../../../functions/fleet-controller/fleet-controller-env';
import { profilesOfTask } from '../../../functions/fleet-controller';

const valid = {
  [ENV.task]: 'digits',
  [ENV.maxWorkers]: '24',
  [ENV.configsTable]: 'app-configs',
  [ENV.fleetVariants]: JSON.stringify({
    'mnist-resnet': { group: 'asg-large', exitLogsTable: 'large-exit-logs' },
    'mnist-resnet-small': { group: 'asg-small', exitLogsTable: 'small-exit-logs' },
  }),
};

describe('fleet controller environment', () => {
  it('reads the task, budget, plans table and each variant’s group and exit logs', () => {
    expect(readFleetControllerEnv(valid)).toEqual({
      task: 'digits',
      maxWorkers: 24,
      configsTable: 'app-configs',
      variants: {
        'mnist-resnet': { group: 'asg-large', exitLogsTable: 'large-exit-logs' },
        'mnist-resnet-small': { group: 'asg-small', exitLogsTable: 'small-exit-logs' },
      },
    });
  });

  it.each([
    [
      { [ENV.fleetVariants]: 'not json' },
      /APPARATE_FLEET_VARIANTS: must be a JSON object of variant → \{ group, exitLogsTable \}/,
    ],
    [{ [ENV.fleetVariants]: '{}' }, /APPARATE_FLEET_VARIANTS: names no variant/],
    [
      { [ENV.fleetVariants]: JSON.stringify({ v: { group: 'g' } }) },
      /APPARATE_FLEET_VARIANTS\.v\.exitLogsTable/,
    ],
    [{ [ENV.maxWorkers]: '0' }, /APPARATE_MAX_WORKERS/],
    [{ [ENV.task]: 'Digits' }, /APPARATE_TASK/],
  ])('refuses %j, naming the variable', (override, message) => {
    const read = () => readFleetControllerEnv({ ...valid, ...override });
    expect(read).toThrow(InputError);
    expect(read).toThrow(message);
  });

  it('plans a task from its bundled profiles, and says which data sets have profiles', () => {
    expect(profilesOfTask('digits').variants.map((v) => v.name)).toContain('mnist-resnet-medium');
    expect(profilesOfTask('spam').variants.map((v) => v.name)).toEqual([
      'spam-bert',
      'spam-bert-medium',
      'spam-bert-small',
    ]);
    expect(() => profilesOfTask('faces')).toThrow(
      /task faces has no fleet profiles bundled; profiled data sets: mnist, spam/,
    );
  });
});
