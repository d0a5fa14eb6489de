/**
 * Fleet plans as versioned configs: real plans from the planner over the committed digits
 * profiles, published to and read back from dynalite with the ramp configs' conditional writes.
 */
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { InputError } from '../../../core/errors';
import { planFleet, planningOptions } from '../../../core/fleet/planner';
import { readTaskProfiles } from '../../../core/fleet/profiles-location';
import type { VersionedPlan } from '../../../core/fleet/published-plan';
import type { TaskProfiles } from '../../../core/fleet/variant-profile';
import { ConfigStore } from '../../../adapters/dynamo/config-store';
import { PlanConflictError, planPartition, PlanStore } from '../../../adapters/dynamo/plan-store';
import type { InvalidDocumentReport } from '../../../adapters/dynamo/versioned-documents';
import { startLocalDynamo, type LocalDynamo } from './local-dynamo';

const TASK = 'digits';

let local: LocalDynamo;
let profiles: TaskProfiles;
let store: PlanStore;
let tableName: string;
let reports: InvalidDocumentReport[];

function versioned(version: number, forecastRps: number): VersionedPlan {
  const plan = planFleet({
    task: TASK,
    forecastRps,
    options: planningOptions(profiles),
    settings: { maxWorkers: 24 },
  });
  return { version, decidedAtMs: 1_700_000_000_000 + version, plan };
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

beforeAll(async () => {
  local = await startLocalDynamo();
  profiles = await readTaskProfiles('mnist');
});

afterAll(async () => {
  await local.close();
});

beforeEach(async () => {
  tableName = (await local.freshTables()).configs;
  reports = [];
  store = new PlanStore({ client: local.doc, tableName, onInvalidPlan: (report) => reports.push(report) });
});

describe('plan store', () => {
  it('publishes increasing plan versions per task and serves the newest with its history', async () => {
    // Given no plan yet
    expect(await store.latest(TASK)).toBeUndefined();

    // When plans for a light, a heavy and a light load again are published in turn
    const plans = [versioned(0, 50), versioned(1, 2500), versioned(4, 200)];
    for (const plan of plans) await store.publish(TASK, plan);

    // Then the newest is served whole, the history runs newest first, and no other task sees them
    expect((await store.latest(TASK))?.plan).toEqual(plans[2]);
    expect((await store.history(TASK, 10)).map((p) => p.plan.version)).toEqual([4, 1, 0]);
    expect((await store.history(TASK, 10))[1]?.plan.plan.groups).toEqual(plans[1]?.plan.groups);
    expect(await store.latest('spam')).toBeUndefined();
    expect(reports).toEqual([]);
  });

  it('refuses a stale or a repeated version with a typed conflict', async () => {
    // Given version 3 published
    await store.publish(TASK, versioned(3, 100));

    // When version 2, and version 3 again, are published
    const stale = await rejectionOf(store.publish(TASK, versioned(2, 900)));
    const equal = await rejectionOf(store.publish(TASK, versioned(3, 900)));

    // Then both lose, saying which version stands, and version 3's plan is kept
    for (const error of [stale, equal]) {
      expect(error).toBeInstanceOf(PlanConflictError);
      expect((error as PlanConflictError).latestVersion).toBe(3);
      expect((error as Error).message).toMatch(/plan version \d of task digits was not published/);
    }
    expect((await store.latest(TASK))?.plan.plan.forecastRps).toBe(100);
  });

  it('lets exactly one of several concurrent publishers of one version win', async () => {
    // When five publishers race for version 0
    const outcomes = await Promise.allSettled(
      [10, 20, 30, 40, 50].map((rate) => store.publish(TASK, versioned(0, rate))),
    );

    // Then one wins, the others get conflicts, and the stored plan is the winner's
    const won = outcomes.filter((o) => o.status === 'fulfilled');
    expect(won).toHaveLength(1);
    expect(
      outcomes.filter((o) => o.status === 'rejected' && o.reason instanceof PlanConflictError),
    ).toHaveLength(4);
    const winner = (won[0] as PromiseFulfilledResult<{ plan: VersionedPlan }>).value.plan;
    expect((await store.latest(TASK))?.plan).toEqual(winner);
  });

  it('refuses a plan that fails the schema, names another task, or comes for a bad task name', async () => {
    const good = versioned(0, 100);
    const badWeight = {
      ...good,
      plan: { ...good.plan, groups: good.plan.groups.map((g) => ({ ...g, weight: 1.5 })) },
    };
    await expect(store.publish(TASK, badWeight)).rejects.toThrow(/plan\.groups\.0\.weight/);
    await expect(store.publish('spam', good)).rejects.toThrow('plan for task spam names task digits');
    await expect(store.publish('Digits!', good)).rejects.toThrow(InputError);
    await expect(store.history(TASK, 0)).rejects.toThrow(/from 1 to 1000/);
    expect(await store.latest(TASK)).toBeUndefined();
  });

  it('skips and reports a stored plan that is not valid, serving the newest valid one', async () => {
    // Given version 0 published, then a version 1 written around the store with a broken plan
    await store.publish(TASK, versioned(0, 100));
    await local.doc.send(
      new PutCommand({
        TableName: tableName,
        Item: { model: planPartition(TASK), version: 1, plan: { version: 1, plan: {} }, publishedAtMs: 1 },
      }),
    );

    // Then version 0 is served and version 1 is reported with what was wrong
    expect((await store.latest(TASK))?.plan.version).toBe(0);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ partition: 'plan#digits', version: 1 });
    expect(reports[0]?.reason).toMatch(/plan\.(decidedAtMs|plan)/);
  });

  it('keeps plans apart from the ramp configs that share the table', async () => {
    // Given a ramp config of a model and a plan of a task in the same table
    const configs = new ConfigStore({ client: local.doc, tableName, onInvalidConfig: () => undefined });
    await configs.publish('mnist-resnet', { version: 7, ramps: [] });
    await store.publish(TASK, versioned(0, 100));

    // Then each store reads only its own documents
    expect((await configs.latest('mnist-resnet'))?.config.version).toBe(7);
    expect(await configs.latest(planPartition(TASK))).toBeUndefined();
    expect((await store.latest(TASK))?.plan.version).toBe(0);
  });
});
