/**
 * The fleet controller of a task against dynalite: batches logged by the variants' workers are the
 * load it measures, the committed digits profiles and the LSTM forecaster decide, the plan store
 * keeps the plans, and the capacity it sets is recorded at the Auto Scaling boundary (which cannot
 * run here).
 */
import { ExitLogReader, ExitLogWriter, PlanStore, type ExitLogItem } from '../../../adapters/dynamo';
import { readLstmWeights, lstmForecaster } from '../../../core/fleet/lstm-forecaster';
import { planningOptions } from '../../../core/fleet/planner';
import { workersByVariant } from '../../../core/fleet/plan';
import type { Forecaster } from '../../../core/fleet/forecast';
import { silentLogger } from '../../../core/util/json-lines-logger';
import { profilesOfTask } from '../../../functions/fleet-controller';
import {
  runFleetController,
  type WorkerCapacity,
} from '../../../functions/fleet-controller/run-fleet-controller';
import { startLocalDynamo, type LocalDynamo } from '../../adapters/dynamo/local-dynamo';

const MINUTE = 60_000;
const VARIANTS = ['mnist-resnet', 'mnist-resnet-medium', 'mnist-resnet-small'];

let local: LocalDynamo;
let forecaster: Forecaster;
let batchId = 0;

beforeAll(async () => {
  local = await startLocalDynamo();
  forecaster = lstmForecaster(await readLstmWeights());
});

afterAll(async () => {
  await local.close();
});

/** A batch of `size` inputs served by `variant`, started at `startedAtMs`. */
function batch(variant: string, startedAtMs: number, size: number): ExitLogItem {
  batchId += 1;
  return {
    model: variant,
    batchId: `w1-${batchId}`,
    startedAtMs,
    configVersion: 0,
    batchSize: size,
    paddedSize: size,
    requests: Array.from({ length: size }, (_, i) => ({
      requestId: `r${batchId}-${i}`,
      exit: 'final',
      releasedMs: 5,
      finalMs: 5,
      ramps: [],
      finalPrediction: i % 10,
    })),
  };
}

class RecordedCapacity implements WorkerCapacity {
  readonly calls: [string, number][] = [];
  failing = new Set<string>();
  setWorkers(variant: string, workers: number): Promise<void> {
    if (this.failing.has(variant)) return Promise.reject(new Error('throttled'));
    this.calls.push([variant, workers]);
    return Promise.resolve();
  }
}

describe('fleet controller', () => {
  it("measures the load, plans, publishes and sets every variant's workers; keeps the plan while the load falls", async () => {
    // Given ten past minutes of logged batches whose busiest second reaches 40 req/s, then 900 req/s
    const tables = await local.freshTables();
    const writer = new ExitLogWriter({ client: local.doc, tableName: tables.exitLogs });
    const nowMs = Math.floor(Date.now() / MINUTE) * MINUTE + 5_000;
    const minuteStart = (ago: number) => Math.floor(nowMs / MINUTE) * MINUTE - ago * MINUTE;
    const peaks = [30, 35, 40, 38, 36, 40, 42, 39, 300, 900];
    peaks.forEach((peak, i) => {
      const start = minuteStart(10 - i);
      // The busiest second is split across two variants; other seconds carry less.
      writer.record(batch('mnist-resnet-medium', start + 10_000, Math.ceil(peak / 2)));
      writer.record(batch('mnist-resnet', start + 10_400, Math.floor(peak / 2)));
      writer.record(batch('mnist-resnet-medium', start + 30_000, Math.max(1, Math.floor(peak / 3))));
    });
    await writer.flush();
    await writer.close();
    const plans = new PlanStore({ client: local.doc, tableName: tables.configs });
    const capacity = new RecordedCapacity();
    const run = (atMs: number) =>
      runFleetController({
        task: 'digits',
        variants: VARIANTS,
        plans,
        exitLogs: new ExitLogReader({ client: local.doc, tableName: tables.exitLogs }),
        capacity,
        options: planningOptions(profilesOfTask('digits')),
        forecaster,
        settings: { maxWorkers: 24 },
        periodMs: MINUTE,
        nowMs: atMs,
        logger: silentLogger,
      });

    // When the controller runs
    const first = await run(nowMs);

    // Then it saw each minute's peak, planned for the LSTM's forecast +10%, published version 0 and
    // set every variant's group to the plan's count (0 for variants the plan leaves out)
    expect(first.peaks).toEqual(peaks);
    expect(first.decision).toBe('replanned');
    expect(first.forecastRps).toBeCloseTo(forecaster.predict(peaks) * 1.1, 6);
    expect(first.plan.plan.forecastRps).toBeCloseTo(first.forecastRps, 6);
    expect((await plans.latest('digits'))?.plan).toEqual(first.plan);
    const planned = workersByVariant(first.plan.plan);
    expect(new Map(capacity.calls)).toEqual(new Map(VARIANTS.map((v) => [v, planned.get(v) ?? 0])));
    expect([...planned.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(0);

    // And a minute later, with no new load (the forecast falls), it keeps the plan and sets the same counts
    capacity.calls.length = 0;
    const second = await run(nowMs + MINUTE);
    expect(second.decision).toBe('kept');
    expect(second.plan.version).toBe(0);
    expect(new Map(capacity.calls)).toEqual(new Map(VARIANTS.map((v) => [v, planned.get(v) ?? 0])));

    // And once the plan is four periods old, the lower forecast re-plans as version 1
    const later = await run(nowMs + 4 * MINUTE);
    expect(later.decision).toBe('replanned');
    expect(later.plan.version).toBe(1);
    expect(later.plan.plan.forecastRps).toBeLessThan(first.plan.plan.forecastRps);
  });

  it('follows the plan another run published first, and reports a group it could not resize', async () => {
    // Given a plan store in which a concurrent run already took the next version
    const tables = await local.freshTables();
    const plans = new PlanStore({ client: local.doc, tableName: tables.configs });
    const capacity = new RecordedCapacity();
    capacity.failing.add('mnist-resnet-small');
    const racing = {
      latest: plans.latest.bind(plans),
      publish: async (task: string, plan: Parameters<PlanStore['publish']>[1]) => {
        await plans.publish(task, { ...plan, decidedAtMs: plan.decidedAtMs - 1 });
        return plans.publish(task, plan);
      },
    };

    // When the controller runs
    const report = await runFleetController({
      task: 'digits',
      variants: VARIANTS,
      plans: racing,
      exitLogs: new ExitLogReader({ client: local.doc, tableName: tables.exitLogs }),
      capacity,
      options: planningOptions(profilesOfTask('digits')),
      forecaster,
      settings: { maxWorkers: 24 },
      periodMs: MINUTE,
      nowMs: Date.now(),
      logger: silentLogger,
    });

    // Then it lost the race, followed the winner, and says which group it could not set
    expect(report.decision).toBe('lost-race');
    expect(report.plan.decidedAtMs).toBe((await plans.latest('digits'))?.plan.decidedAtMs);
    expect(report.capacityErrors).toEqual({ 'mnist-resnet-small': 'throttled' });
    expect(capacity.calls.map(([v]) => v).sort()).toEqual(['mnist-resnet', 'mnist-resnet-medium']);
  });
});
