/**
 * Task-level dispatch by a plan's weights: the task→variants mapping read from the zoo's models,
 * and the smooth weighted round robin that splits a task's requests, on real planner output.
 */
import { InputError } from '../../core/errors';
import { planFleet, planningOptions } from '../../core/fleet/planner';
import { readTaskProfiles } from '../../core/fleet/profiles-location';
import type { VersionedPlan } from '../../core/fleet/published-plan';
import { TaskDispatcher } from '../../core/fleet/task-dispatcher';
import { taskOfVariant, taskVariants } from '../../core/fleet/tasks';
import { SmoothWeightedChoice } from '../../core/fleet/weighted-choice';
import { listFixtureModels } from '../../core/zoo/fixtures';

function counts<T>(values: readonly T[]): Map<T, number> {
  const tally = new Map<T, number>();
  for (const value of values) tally.set(value, (tally.get(value) ?? 0) + 1);
  return tally;
}

describe('task to variants', () => {
  it('groups the zoo models into the digits and spam tasks by the data set they share', async () => {
    const models = await listFixtureModels();
    const tasks = taskVariants(models.map((m) => ({ name: m.spec.name, dataset: m.spec.dataset })));
    expect(tasks.get('digits')).toEqual(['mnist-resnet', 'mnist-resnet-medium', 'mnist-resnet-small']);
    expect(tasks.get('spam')).toEqual(['spam-bert', 'spam-bert-medium', 'spam-bert-small']);
    expect(taskOfVariant(tasks, 'spam-bert-small')).toBe('spam');
    expect(taskOfVariant(tasks, 'vgg')).toBeUndefined();
  });

  it('refuses a model named like a task, saying which names are taken', () => {
    expect(() =>
      taskVariants([
        { name: 'mnist-resnet', dataset: 'mnist' },
        { name: 'digits', dataset: 'other' },
      ]),
    ).toThrow(/model digits has the name of a task; task names \(digits\) cannot name models/);
  });
});

describe('smooth weighted choice', () => {
  it.each([[[0.5, 0.3, 0.2]], [[0.62, 0.38]], [[0.1, 0.05, 0.85]], [[1 / 3, 1 / 3, 1 / 3]]])(
    'keeps every prefix of its choices within one of the weights %j',
    (weights) => {
      // Given a choice over the weights
      const choice = new SmoothWeightedChoice(weights.map((weight, value) => ({ value, weight })));

      // When it chooses 500 times, then after every choice each option's count is within one of its share
      const seen = weights.map(() => 0);
      let worst = 0;
      for (let n = 1; n <= 500; n++) {
        const chosen = choice.next();
        seen[chosen] = (seen[chosen] as number) + 1;
        weights.forEach((weight, i) => {
          worst = Math.max(worst, Math.abs((seen[i] as number) - n * weight));
        });
      }
      expect(worst).toBeLessThan(1);
    },
  );

  it('interleaves its choices rather than running through one option at a time', () => {
    const choice = new SmoothWeightedChoice([
      { value: 'a', weight: 2 },
      { value: 'b', weight: 1 },
      { value: 'c', weight: 1 },
    ]);
    expect(Array.from({ length: 8 }, () => choice.next()).join('')).toBe('abcaabca');
  });

  it('refuses weights that are negative, not finite, or all zero', () => {
    expect(() => new SmoothWeightedChoice([{ value: 'a', weight: -1 }])).toThrow(InputError);
    expect(() => new SmoothWeightedChoice([{ value: 'a', weight: Number.NaN }])).toThrow(/finite number/);
    expect(() => new SmoothWeightedChoice([{ value: 'a', weight: 0 }])).toThrow(/at least one positive/);
  });
});

describe('task dispatcher', () => {
  const tasks = taskVariants([
    { name: 'mnist-resnet', dataset: 'mnist' },
    { name: 'mnist-resnet-medium', dataset: 'mnist' },
    { name: 'mnist-resnet-small', dataset: 'mnist' },
    { name: 'spam-bert', dataset: 'spam' },
  ]);

  async function plannedFor(forecastRps: number, version: number): Promise<VersionedPlan> {
    const profiles = await readTaskProfiles('mnist');
    const plan = planFleet({
      task: 'digits',
      forecastRps,
      options: planningOptions(profiles),
      settings: { maxWorkers: 24 },
    });
    return { version, decidedAtMs: 0, plan };
  }

  it('splits an unplanned task evenly and sends a named variant to itself', () => {
    const dispatcher = new TaskDispatcher(tasks);
    const routes = Array.from({ length: 9 }, () => dispatcher.route('digits'));
    expect(counts(routes.map((r) => r?.variant))).toEqual(
      new Map([
        ['mnist-resnet', 3],
        ['mnist-resnet-medium', 3],
        ['mnist-resnet-small', 3],
      ]),
    );
    expect(routes[0]).toEqual({ variant: 'mnist-resnet', task: 'digits' });
    expect(dispatcher.route('spam-bert')).toEqual({ variant: 'spam-bert' });
    expect(dispatcher.route('vgg')).toBeUndefined();
  });

  it("follows a plan's weights per variant, and only plans newer than the one it follows", async () => {
    // Given a plan that mixes variants (the planner's heavy-load plan, split three ways)
    const base = await plannedFor(3000, 2);
    const heavy: VersionedPlan = {
      ...base,
      plan: {
        ...base.plan,
        groups: [
          {
            variant: 'mnist-resnet',
            exits: { constraint: 0.99 },
            workers: 4,
            weight: 0.41,
            loadRps: 1230,
            capacityRps: 1380,
          },
          {
            variant: 'mnist-resnet-medium',
            exits: 'off',
            workers: 1,
            weight: 0.37,
            loadRps: 1110,
            capacityRps: 2078,
          },
          {
            variant: 'mnist-resnet-small',
            exits: 'off',
            workers: 1,
            weight: 0.22,
            loadRps: 660,
            capacityRps: 7380,
          },
          { variant: 'mnist-resnet-small', exits: 'off', workers: 0, weight: 0, loadRps: 0, capacityRps: 0 },
        ],
      },
    };

    // When the dispatcher follows it and routes 1000 requests
    const dispatcher = new TaskDispatcher(tasks);
    expect(dispatcher.follow(heavy)).toBe(true);
    const routes = Array.from({ length: 1000 }, () => dispatcher.route('digits'));

    // Then each variant gets its weight's share within one request, and the route names the plan
    const tally = counts(routes.map((r) => r?.variant));
    for (const group of heavy.plan.groups.filter((g) => g.workers > 0)) {
      expect(Math.abs((tally.get(group.variant) ?? 0) - 1000 * group.weight)).toBeLessThan(1);
    }
    expect(routes[0]?.planVersion).toBe(2);

    // And an older or equal version, or a plan of a task not served here, is not followed
    expect(dispatcher.follow(await plannedFor(10, 1))).toBe(false);
    expect(dispatcher.follow({ ...base, version: 2 })).toBe(false);
    expect(dispatcher.follow({ ...base, version: 9, plan: { ...base.plan, task: 'faces' } })).toBe(false);
    expect(dispatcher.planVersion('digits')).toBe(2);
  });

  it("routes a planner's single-variant plan to that variant alone", async () => {
    const planned = await plannedFor(2500, 0);
    const dispatcher = new TaskDispatcher(tasks);
    dispatcher.follow(planned);
    const serving = new Set(
      planned.plan.groups.filter((g) => g.workers > 0 && g.weight > 0).map((g) => g.variant),
    );
    const routed = new Set(Array.from({ length: 50 }, () => dispatcher.route('digits')?.variant));
    expect(routed).toEqual(serving);
  });

  it('falls back to an even split under a plan that serves nothing', async () => {
    const light = await plannedFor(10, 0);
    const empty: VersionedPlan = { ...light, version: 1, plan: { ...light.plan, groups: [] } };
    const dispatcher = new TaskDispatcher(tasks);
    dispatcher.follow(empty);
    expect(dispatcher.shares('digits')).toEqual(
      new Map([
        ['mnist-resnet', 1 / 3],
        ['mnist-resnet-medium', 1 / 3],
        ['mnist-resnet-small', 1 / 3],
      ]),
    );
  });
});
