import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { InputError } from '../../../core/errors';
import type { RampConfig } from '../../../core/control/ramp-config';
import {
  CONFIG_HEAD_VERSION,
  CONTROLLER_STATE_VERSION,
  ConfigConflictError,
  ConfigStore,
  type InvalidConfigReport,
} from '../../../adapters/dynamo/config-store';
import { useLocalDynamo } from './local-dynamo';

const MODEL = 'mnist-resnet';

function config(version: number, threshold = 0.1): RampConfig {
  return {
    version,
    ramps: [
      { id: 'block1', threshold },
      { id: 'block3', threshold: threshold / 2 },
    ],
  };
}

const dynamo = useLocalDynamo();
let reports: InvalidConfigReport[];
let store: ConfigStore;

beforeEach(() => {
  reports = [];
  store = new ConfigStore({
    client: dynamo.local.doc,
    tableName: dynamo.tables.configs,
    onInvalidConfig: (report) => reports.push(report),
  });
});

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

describe('config store', () => {
  it('publishes increasing versions and serves the newest', async () => {
    // Given no config yet
    expect(await store.latest(MODEL)).toBeUndefined();

    // When versions 0, 1 and 5 are published in turn
    for (const version of [0, 1, 5]) await store.publish(MODEL, config(version, version / 100));

    // Then the newest is served, the history runs newest first, and another model sees none of them
    expect((await store.latest(MODEL))?.config).toEqual(config(5, 0.05));
    expect((await store.history(MODEL, 10)).map((published) => published.config.version)).toEqual([5, 1, 0]);
    expect((await store.history(MODEL, 2)).map((published) => published.config.version)).toEqual([5, 1]);
    expect(await store.latest('other-model')).toBeUndefined();
    expect(reports).toEqual([]);
  });

  it('refuses a stale or an equal version with a typed conflict', async () => {
    // Given version 4 published
    await store.publish(MODEL, config(4));

    // When version 3 and version 4 again are published
    const stale = await rejectionOf(store.publish(MODEL, config(3)));
    const equal = await rejectionOf(store.publish(MODEL, config(4, 0.3)));

    // Then both lose, naming the version already there, and version 4 stays as first published
    for (const error of [stale, equal]) {
      expect(error).toBeInstanceOf(ConfigConflictError);
      expect((error as ConfigConflictError).latestVersion).toBe(4);
    }
    expect((await store.latest(MODEL))?.config).toEqual(config(4));
    expect(await store.history(MODEL, 10)).toHaveLength(1);
  });

  it('lets exactly one of several concurrent publishers of a version win', async () => {
    // Given version 1 published
    await store.publish(MODEL, config(1));

    // When eight publishers race to publish version 2, each with its own thresholds
    const outcomes = await Promise.allSettled(
      Array.from({ length: 8 }, (_, index) => store.publish(MODEL, config(2, (index + 1) / 10))),
    );

    // Then one wins, the others get a conflict, and the winner's config is the one served
    const winners = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    const losers = outcomes.filter((outcome) => outcome.status === 'rejected');
    expect(winners).toHaveLength(1);
    expect(losers.every((outcome) => outcome.reason instanceof ConfigConflictError)).toBe(true);
    expect((await store.latest(MODEL))?.config).toEqual(winners[0]?.value.config);
  });

  it('never lets a lower version become the newest when publishers of different versions race', async () => {
    // When publishers of versions 2 to 9 race
    const versions = [2, 3, 4, 5, 6, 7, 8, 9];
    const outcomes = await Promise.allSettled(
      versions.map((version) => store.publish(MODEL, config(version))),
    );

    // Then the highest version always wins and is served; any loser lost to a higher version
    expect(outcomes[outcomes.length - 1]?.status).toBe('fulfilled');
    expect((await store.latest(MODEL))?.config.version).toBe(9);
    const losers = outcomes.filter((outcome) => outcome.status === 'rejected');
    expect(losers.every((outcome) => outcome.reason instanceof ConfigConflictError)).toBe(true);
  });

  it('skips and reports an invalid stored config, serving the newest valid one', async () => {
    // Given versions 1 and 2 published, then a version 3 written by hand with a threshold above 1
    await store.publish(MODEL, config(1));
    await store.publish(MODEL, config(2));
    await dynamo.local.doc.send(
      new PutCommand({
        TableName: dynamo.tables.configs,
        Item: { model: MODEL, version: 3, config: config(3, 2), publishedAtMs: 1 },
      }),
    );

    // When the newest config and the history are read
    const latest = await store.latest(MODEL);
    const history = await store.history(MODEL, 10);

    // Then version 3 is never returned, and each read reported it
    expect(latest?.config.version).toBe(2);
    expect(history.map((published) => published.config.version)).toEqual([2, 1]);
    expect(reports).toHaveLength(2);
    expect(reports[0]).toMatchObject({ model: MODEL, version: 3 });
    expect(reports[0]?.reason).toMatch(/config\.ramps\.0\.threshold/);
  });

  it('completes a publish that stopped after admitting its version', async () => {
    // Given a head that admitted version 7 whose config item was never written (the publisher died)
    await store.publish(MODEL, config(6));
    await dynamo.local.doc.send(
      new PutCommand({
        TableName: dynamo.tables.configs,
        Item: { model: MODEL, version: CONFIG_HEAD_VERSION, latestVersion: 7, updatedAtMs: 1 },
      }),
    );

    // When version 7 is published again
    await store.publish(MODEL, config(7));

    // Then it is served, and the head item never shows up as a config
    expect((await store.latest(MODEL))?.config.version).toBe(7);
    expect((await store.history(MODEL, 10)).map((published) => published.config.version)).toEqual([7, 6]);
    expect(reports).toEqual([]);
  });

  it('refuses a config that fails the schema before writing', async () => {
    // When a config with a negative version is published, then it is refused as the caller's mistake
    await expect(store.publish(MODEL, config(-1))).rejects.toThrow(InputError);
    await expect(store.publish('', config(1))).rejects.toThrow(InputError);
    await expect(store.history(MODEL, 0)).rejects.toThrow(InputError);
    expect(await store.latest(MODEL)).toBeUndefined();
  });

  describe("the controller's state item", () => {
    it('is written only by a writer that read the revision it names', async () => {
      // Given no state yet
      expect(await store.controllerState(MODEL)).toBeUndefined();

      // When two runs that saw no state both write one, then exactly the first succeeds
      expect(await store.putControllerState(MODEL, { watermarkMs: 10 }, undefined)).toBe(true);
      expect(await store.putControllerState(MODEL, { watermarkMs: 11 }, undefined)).toBe(false);
      const first = await store.controllerState(MODEL);
      expect(first).toMatchObject({ revision: 0, state: { watermarkMs: 10 } });

      // And of two runs that read revision 0, only one moves it on
      const [a, b] = await Promise.all([
        store.putControllerState(MODEL, { watermarkMs: 20 }, 0),
        store.putControllerState(MODEL, { watermarkMs: 21 }, 0),
      ]);
      expect([a, b].filter(Boolean)).toHaveLength(1);
      const second = await store.controllerState(MODEL);
      expect(second?.revision).toBe(1);
      expect([20, 21]).toContain((second?.state as { watermarkMs: number }).watermarkMs);
      expect(await store.putControllerState(MODEL, { watermarkMs: 30 }, 5)).toBe(false);
    });

    it('never shows up as a config, beside the head and the versions', async () => {
      // Given a state item, a head and two configs in one model's partition
      await store.putControllerState(MODEL, { watermarkMs: 1 }, undefined);
      await store.publish(MODEL, config(0));
      await store.publish(MODEL, config(1));

      // Then reads of configs see the configs only, and nothing is reported invalid
      expect((await store.history(MODEL, 10)).map((published) => published.config.version)).toEqual([1, 0]);
      expect((await store.latest(MODEL))?.config.version).toBe(1);
      expect(reports).toEqual([]);
      expect(CONTROLLER_STATE_VERSION).toBeLessThan(CONFIG_HEAD_VERSION);
    });
  });
});
