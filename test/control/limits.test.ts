/**
 * The one table of limits: every place that takes the accuracy constraint or the ramp budget
 * accepts and refuses the same values, at both ends of the range, with the table's default.
 */
import { numberOption } from '../../cli/options';
import { readStackOptions } from '../../cli/stack/stack-options';
import { manifestSchema } from '../../core/bundle/manifest';
import { ApparateController } from '../../core/control/controller';
import {
  ACCURACY_CONSTRAINT,
  checkLimit,
  inLimit,
  limitRange,
  limitSchema,
  RAMP_BUDGET,
  type Limit,
} from '../../core/control/limits';
import { syntheticProfile } from '../../core/control/synthetic';
import { DEFAULT_CONSTRAINT } from '../../core/control/threshold-tuner';
import { ENV } from '../../core/deployment/cloud-names';
import { InputError } from '../../core/errors';
import type { Progress } from '../../core/util/progress';
import { DEFAULT_PREPARE, validatePrepareOptions } from '../../core/prepare/prepare-model';
import { readControllerEnv } from '../../functions/controller/controller-env';
import { settingsOf } from '../../functions/controller/controller-tuning';
import { resolveServingProps } from '../../infra/serving-props';

const silent: Progress = { update: () => undefined, stop: () => undefined };
const env = {
  [ENV.model]: 'mnist-resnet',
  [ENV.exitLogsTable]: 'apparate-exit-logs',
  [ENV.configsTable]: 'apparate-configs',
  [ENV.bundleBucket]: 'apparate-bundles',
};

/** Whether `run` accepts the value (true) or refuses it with an InputError (false). */
function accepts(run: () => unknown): boolean {
  try {
    run();
    return true;
  } catch (error) {
    if (error instanceof InputError) return false;
    throw error;
  }
}

/** Each consumer of a limit, as "does it accept this value?". */
const consumers: Record<'constraint' | 'budget', Record<string, (value: number) => boolean>> = {
  constraint: {
    'the table': (v) => inLimit(ACCURACY_CONSTRAINT, v),
    'controller environment': (v) =>
      accepts(() => readControllerEnv({ ...env, [ENV.accuracyConstraint]: String(v) })),
    'CDK props': (v) => accepts(() => resolveServingProps({ modelName: 'm', accuracyConstraint: v })),
    'stack options': (v) => accepts(() => readStackOptions({ accuracy: String(v) }, silent)),
    'simulate and worker options': (v) =>
      accepts(() => numberOption({ accuracy: String(v) }, 'accuracy', ACCURACY_CONSTRAINT)),
    'scheduled controller': (v) =>
      accepts(() => settingsOf({ nowMs: 0, constraint: v, manifest: { rampBudget: RAMP_BUDGET.default } })),
    'online controller': (v) =>
      accepts(
        () =>
          new ApparateController({
            profile: syntheticProfile(4),
            initialConfig: { ramps: [] },
            constraint: v,
          }),
      ),
  },
  budget: {
    'the table': (v) => inLimit(RAMP_BUDGET, v),
    'bundle manifest': (v) =>
      limitSchema(RAMP_BUDGET).safeParse(v).success && manifestSchema.shape.rampBudget.safeParse(v).success,
    'controller environment': (v) =>
      accepts(() => readControllerEnv({ ...env, [ENV.rampBudget]: String(v) })),
    'CDK props': (v) => accepts(() => resolveServingProps({ modelName: 'm', rampBudget: v })),
    'stack options': (v) => accepts(() => readStackOptions({ 'ramp-budget': String(v) }, silent)),
    'prepare options': (v) => accepts(() => validatePrepareOptions({ rampBudget: v })),
    'scheduled controller': (v) =>
      accepts(() => settingsOf({ nowMs: 0, rampBudget: v, manifest: { rampBudget: v } })),
    'online controller': (v) =>
      accepts(
        () =>
          new ApparateController({
            profile: syntheticProfile(4),
            initialConfig: { ramps: [] },
            rampBudget: v,
          }),
      ),
  },
};

function probes(limit: Limit): [number, boolean][] {
  return [
    [limit.min, false],
    [limit.min + 1e-6, true],
    [limit.default, true],
    [limit.max, true],
    [limit.max + 1e-6, false],
  ];
}

describe('the one table of limits', () => {
  it.each([
    ['constraint', ACCURACY_CONSTRAINT],
    ['budget', RAMP_BUDGET],
  ] as const)('every consumer of the %s accepts exactly the range of the table', (which, limit) => {
    // Given the values at and just beyond both ends of the range, and the default
    const verdicts = Object.fromEntries(
      Object.entries(consumers[which]).map(([where, takes]) => [where, probes(limit).map(([v]) => takes(v))]),
    );

    // Then each consumer agrees with the table on every value
    const expected = probes(limit).map(([, ok]) => ok);
    for (const where of Object.keys(verdicts)) expect([where, verdicts[where]]).toEqual([where, expected]);
  });

  it('gives one default to every place and one message naming the range', () => {
    expect(DEFAULT_CONSTRAINT).toBe(ACCURACY_CONSTRAINT.default);
    expect(DEFAULT_PREPARE.rampBudget).toBe(RAMP_BUDGET.default);
    expect(resolveServingProps({ modelName: 'm' })).toMatchObject({
      accuracyConstraint: ACCURACY_CONSTRAINT.default,
      rampBudget: RAMP_BUDGET.default,
    });
    expect(limitRange(ACCURACY_CONSTRAINT)).toBe('(0.5, 1]');
    expect(() => checkLimit(RAMP_BUDGET, 0.7)).toThrow('ramp budget must be a number in (0, 0.5], got 0.7');
  });
});
