import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { ScheduledEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { ConfigStore } from '../../../adapters/dynamo/config-store';
import { ExitLogReader, ExitLogWriter, type ExitLogItem } from '../../../adapters/dynamo';
import type { TableNames } from '../../../adapters/dynamo/tables';
import { MemoryRequestQueue } from '../../../adapters/queue/memory-queue';
import { costProfileFromManifest } from '../../../core/bundle/cost-profile';
import type { BundleManifest } from '../../../core/bundle/manifest';
import type { RampConfig } from '../../../core/control/ramp-config';
import { costsAtBatch, rampBudgetMs } from '../../../core/control/costs';
import { ENV } from '../../../core/deployment/cloud-names';
import { controllerRuntimeFromEnv, createControllerHandler } from '../../../functions/controller';
import type { Logger } from '../../../core/util/json-lines-logger';
import {
  DEFAULT_CONTROLLER_TUNING,
  runController,
  type ControllerDeps,
  type ControllerRunReport,
} from '../../../functions/controller/run-controller';
import { checkRampConfig } from '../../../core/bundle/config-check';
import { ApparateWorker } from '../../../gpu-worker/worker';
import { startLocalDynamo, type LocalDynamo } from '../../adapters/dynamo/local-dynamo';
import {
  memoryLogger,
  recordingSink,
  servingRequest,
  workerFixture,
  type WorkerFixture,
} from '../../worker/worker-fixtures';

/** Serving inputs the worker answers to produce the exit logs every test starts from. */
const SERVED = 400;
const CONSTRAINT = 0.99;

let fixture: WorkerFixture;
let manifest: BundleManifest;
let model: string;
let dynamo: LocalDynamo;
let worker: ApparateWorker;
let workerQueue: MemoryRequestQueue;
let workerTables: TableNames;
let workerLog: ExitLogWriter;
let workerSettled: (count: number) => Promise<void>;
/** The logs the worker wrote for SERVED real inputs, as the reader returns them. */
let logs: ExitLogItem[];
/** A clock at which every log is old enough to be read (past the default settling lag). */
let afterLogsMs: number;

beforeAll(async () => {
  fixture = await workerFixture('mnist-resnet');
  manifest = fixture.bundle.manifest;
  model = manifest.model.name;
  dynamo = await startLocalDynamo();
  workerTables = await dynamo.freshTables();
  const writer = new ExitLogWriter({ client: dynamo.doc, tableName: workerTables.exitLogs });
  workerLog = writer;
  workerQueue = new MemoryRequestQueue();
  const { sink, settled } = recordingSink();
  workerSettled = settled;
  const startedMs = Date.now();
  worker = await ApparateWorker.start({
    bundleDir: fixture.bundle.dir,
    queue: workerQueue,
    sink,
    logger: memoryLogger().logger,
    configStore: new ConfigStore({ client: dynamo.doc, tableName: workerTables.configs }),
    // The tests poll on demand with checkConfigNow().
    configPollMs: 3_600_000,
    exitLog: writer,
  });
  for (let i = 0; i < SERVED; i++) await workerQueue.send(servingRequest(fixture, i));
  await settled(SERVED);
  await writer.flush();
  const reader = new ExitLogReader({ client: dynamo.doc, tableName: workerTables.exitLogs });
  logs = await reader.since(model, startedMs - 1000, Date.now() + 1000);
  afterLogsMs = Math.max(...logs.map((batch) => batch.startedAtMs)) + 60_000;
}, 240_000);

afterAll(async () => {
  await worker?.stop();
  await workerQueue?.close();
  await dynamo?.close();
});

/** Fresh tables holding the worker's logs, written by the real writer; no config published. */
async function seededTables(): Promise<{
  tables: TableNames;
  configs: ConfigStore;
  exitLogs: ExitLogReader;
}> {
  const tables = await dynamo.freshTables();
  const writer = new ExitLogWriter({ client: dynamo.doc, tableName: tables.exitLogs });
  for (const batch of logs) writer.record(batch);
  await writer.close();
  expect(writer.stats().written).toBe(logs.length);
  return {
    tables,
    configs: new ConfigStore({ client: dynamo.doc, tableName: tables.configs }),
    exitLogs: new ExitLogReader({ client: dynamo.doc, tableName: tables.exitLogs }),
  };
}

function keptLogger(): {
  logger: Logger;
  lines: { message: string; fields: Record<string, unknown> }[];
} {
  const lines: { message: string; fields: Record<string, unknown> }[] = [];
  return { logger: { log: (_level, message, fields = {}) => lines.push({ message, fields }) }, lines };
}

function depsFor(
  stores: { configs: ControllerDeps['configs']; exitLogs: ControllerDeps['exitLogs'] },
  overrides: Partial<ControllerDeps> = {},
): ControllerDeps {
  return {
    model,
    manifest,
    ...stores,
    nowMs: afterLogsMs,
    constraint: CONSTRAINT,
    logger: keptLogger().logger,
    ...overrides,
  };
}

/**
 * Agreement of the answers `config` would release on the logged inputs, computed here from the raw
 * logs: each input leaves at the first ramp of the config with 1 − confidence < threshold. A ramp
 * the logs never observed must sit at threshold 0 (it cannot release anything yet).
 */
function agreementUnder(config: RampConfig): { agreement: number; exited: number } {
  let inputs = 0;
  let correct = 0;
  let exited = 0;
  for (const batch of logs) {
    for (const request of batch.requests) {
      inputs += 1;
      let answer = request.finalPrediction;
      for (const ramp of config.ramps) {
        const observed = request.ramps.find((r) => r.id === ramp.id);
        if (observed === undefined) {
          expect(ramp.threshold).toBe(0);
          continue;
        }
        if (1 - observed.confidence < ramp.threshold) {
          answer = observed.prediction;
          exited += 1;
          break;
        }
      }
      if (answer === request.finalPrediction) correct += 1;
    }
  }
  return { agreement: correct / inputs, exited };
}

function workerCandidates(): { id: string; position: number }[] {
  return manifest.candidates.map((candidate) => ({ id: candidate.id, position: candidate.position }));
}

describe('the scheduled controller over a real worker’s exit logs', () => {
  it('starts from logs of every request the worker served', () => {
    // Given the worker's logs, then they hold every served request with the initial ramps' outputs
    expect(logs.reduce((sum, batch) => sum + batch.requests.length, 0)).toBe(SERVED);
    const initialIds = manifest.initialConfig.ramps.map((ramp) => ramp.id);
    expect(initialIds.length).toBeGreaterThan(1);
    for (const batch of logs) {
      expect(batch.configVersion).toBe(0);
      for (const request of batch.requests) expect(request.ramps.map((r) => r.id)).toEqual(initialIds);
    }
  });

  it('publishes a new version whose tuned thresholds keep the window at or above the constraint', async () => {
    // Given the logs and no config in the table (workers serve the bundle's initial config, version 0)
    const stores = await seededTables();
    const { logger, lines } = keptLogger();

    // When the controller runs
    const report = await runController(depsFor(stores, { logger }));

    // Then it published version 1, which is what the table now serves
    expect(report.previousVersion).toBe(0);
    expect(report.newVersion).toBe(1);
    expect(report.logs).toMatchObject({ newBatches: logs.length, newRequests: SERVED });
    expect(report.inputs.window).toBe(SERVED);
    const published = (await stores.configs.latest(model))?.config as RampConfig;
    expect(published.version).toBe(1);
    expect(published.ramps.map((ramp) => ramp.id)).toEqual(report.ramps.after);
    expect(published.ramps.map((ramp) => ramp.threshold)).toEqual(report.thresholds.after);
    // And the worker's own check accepts it as a successor of version 0
    expect(() => checkRampConfig(published, workerCandidates(), 0)).not.toThrow();
    // And on the logged inputs it releases answers early while agreeing at least as often as required
    const { agreement, exited } = agreementUnder(published);
    expect(agreement).toBeGreaterThanOrEqual(CONSTRAINT);
    expect(exited).toBeGreaterThan(0);
    expect(report.decisions.tune?.windowAgreement).toBeGreaterThanOrEqual(CONSTRAINT);
    // And the run left exactly one log line, carrying the report
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ message: 'controller run', fields: { model, newVersion: 1 } });
  });

  it('publishes nothing more when run again with no new logs', async () => {
    // Given a run that published over the logs
    const stores = await seededTables();
    const first = await runController(depsFor(stores));
    expect(first.newVersion).toBe(1);

    // When it runs again over the same logs, now and a minute later
    const again = await runController(depsFor(stores));
    const later = await runController(depsFor(stores, { nowMs: afterLogsMs + 60_000 }));

    // Then neither publishes, and version 1 stays the newest and only one
    for (const report of [again, later]) {
      expect(report).toMatchObject({ newVersion: 'unchanged', reason: 'no-new-logs', previousVersion: 1 });
    }
    expect((await stores.configs.history(model, 10)).map((p) => p.config.version)).toEqual([1]);
  });

  it('publishes one version when two runs start at the same time', async () => {
    // Given the logs
    const stores = await seededTables();

    // When two runs go concurrently
    const reports = await Promise.all([runController(depsFor(stores)), runController(depsFor(stores))]);

    // Then one publishes version 1 and the other stands down without error
    const versions = reports.map((report) => report.newVersion).sort();
    expect(versions).toEqual([1, 'unchanged']);
    const loser = reports.find((report) => report.newVersion === 'unchanged');
    expect(['concurrent-run', 'version-conflict']).toContain(loser?.reason);
    expect((await stores.configs.history(model, 10)).map((p) => p.config.version)).toEqual([1]);
  });

  it('keeps a ramp set it changes within the ramp budget', async () => {
    // Given a budget too small for the initial ramps
    const stores = await seededTables();
    const profile = costProfileFromManifest(manifest);
    const reference = costsAtBatch(profile, profile.referenceBatchSize);
    const costOf = (ids: readonly string[]) =>
      ids.reduce(
        (sum, id) => sum + (reference.rampMs[profile.candidates.findIndex((c) => c.id === id)] ?? 0),
        0,
      );
    const initialIds = manifest.initialConfig.ramps.map((ramp) => ramp.id);
    const rampBudget = (0.4 * costOf(initialIds)) / reference.plainMs;
    expect(costOf(initialIds)).toBeGreaterThan(rampBudgetMs(profile, rampBudget));

    // When the controller runs with that budget
    const report = await runController(depsFor(stores, { rampBudget }));

    // Then it published a smaller ramp set that fits the budget, with thresholds that keep the constraint
    expect(report.reason).toBe('ramps-changed');
    expect(report.decisions.adjustment?.reason).toBe('repaired');
    const published = (await stores.configs.latest(model))?.config as RampConfig;
    const ids = published.ramps.map((ramp) => ramp.id);
    expect(ids.length).toBeGreaterThan(0);
    expect(ids.length).toBeLessThan(initialIds.length);
    expect(costOf(ids)).toBeLessThanOrEqual(rampBudgetMs(profile, rampBudget) + 1e-9);
    expect(agreementUnder(published).agreement).toBeGreaterThanOrEqual(CONSTRAINT);
    expect(() => checkRampConfig(published, workerCandidates(), 0)).not.toThrow();
  });

  it('tunes only on logs whose ramps cover the current ramp set', async () => {
    // Given a current config whose ramps are a subset of the logged ones
    const stores = await seededTables();
    const logged = manifest.initialConfig.ramps.map((ramp) => ramp.id);
    const subset = [logged[1], logged[3]] as string[];
    await stores.configs.publish(model, { version: 4, ramps: subset.map((id) => ({ id, threshold: 0 })) });

    // When the controller runs
    const report = await runController(depsFor(stores));

    // Then every logged request feeds the window, none counts as served by this exact set, and the
    // subset is retuned as version 5
    expect(report.inputs).toMatchObject({ window: SERVED, otherRampSets: 0, servedWithCurrentRamps: 0 });
    expect(report.newVersion).toBe(5);
    expect(report.ramps.after).toEqual(subset);
    expect(report.decisions.adjustment?.reason).toBe('waiting-for-evidence');

    // Given instead a current config with a ramp no logged request observed
    const other = await seededTables();
    const unobserved = manifest.candidates.map((c) => c.id).find((id) => !logged.includes(id)) as string;
    await other.configs.publish(model, { version: 4, ramps: [{ id: unobserved, threshold: 0 }] });

    // When the controller runs, then it has nothing to tune on and publishes nothing
    const idle = await runController(depsFor(other));
    expect(idle).toMatchObject({ newVersion: 'unchanged', reason: 'too-few-inputs' });
    expect(idle.inputs).toMatchObject({ window: 0, otherRampSets: SERVED });
    expect((await other.configs.latest(model))?.config.version).toBe(4);
  });

  it('publishes nothing when new logs leave the tuned thresholds where they were', async () => {
    // Given a run that tuned a config of two logged ramps on the logs
    const stores = await seededTables();
    const logged = manifest.initialConfig.ramps.map((ramp) => ramp.id);
    await stores.configs.publish(model, {
      version: 4,
      ramps: [logged[1], logged[3]].map((id) => ({ id: id as string, threshold: 0 })),
    });
    const options = { windowInputs: SERVED };
    const first = await runController(depsFor(stores, { options }));
    expect(first.newVersion).toBe(5);

    // When the same inputs arrive again later (new batches) and the controller runs again
    const shiftMs = afterLogsMs - Math.min(...logs.map((batch) => batch.startedAtMs));
    const writer = new ExitLogWriter({ client: dynamo.doc, tableName: stores.tables.exitLogs });
    for (const batch of logs) {
      writer.record({
        ...batch,
        batchId: `${batch.batchId}-again`,
        startedAtMs: batch.startedAtMs + shiftMs,
      });
    }
    await writer.close();
    const second = await runController(depsFor(stores, { options, nowMs: afterLogsMs + shiftMs }));

    // Then it read them as new, retuned to the same thresholds and kept version 5
    expect(second.logs.newRequests).toBe(SERVED);
    expect(second).toMatchObject({ newVersion: 'unchanged', reason: 'same-config', previousVersion: 5 });
    expect(second.decisions.tune?.thresholds).toEqual(first.thresholds.after);
    expect((await stores.configs.latest(model))?.config.version).toBe(5);
  });

  it('completes a decision whose publish was cut off, once, without new logs', async () => {
    // Given a run that claimed the logs and then failed to publish (a crash between the two writes)
    const stores = await seededTables();
    let failNext = true;
    const flaky: ControllerDeps['configs'] = {
      latest: (m) => stores.configs.latest(m),
      controllerState: (m) => stores.configs.controllerState(m),
      putControllerState: (m, s, r) => stores.configs.putControllerState(m, s, r),
      publish: async (m, c) => {
        if (failNext) {
          failNext = false;
          throw new Error('connection reset');
        }
        return stores.configs.publish(m, c);
      },
    };
    await expect(runController(depsFor({ ...stores, configs: flaky }))).rejects.toThrow('connection reset');
    expect(await stores.configs.latest(model)).toBeUndefined();

    // When the controller runs again with no new logs, twice
    const completed = await runController(depsFor({ ...stores, configs: flaky }));
    const after = await runController(depsFor({ ...stores, configs: flaky }));

    // Then the first publishes the decided version and the second nothing
    expect(completed).toMatchObject({ newVersion: 1, reason: 'completed-pending' });
    expect(after).toMatchObject({ newVersion: 'unchanged', reason: 'no-new-logs' });
    expect((await stores.configs.history(model, 10)).map((p) => p.config.version)).toEqual([1]);
  });

  it('runs as the Lambda handler and the serving worker picks the new version up', async () => {
    // Given the handler's environment naming the worker's tables, DynamoDB at dynalite and the bundle in S3
    const s3 = mockClient(S3Client);
    s3.on(GetObjectCommand, { Bucket: 'bundles', Key: `prod/${model}/manifest.json` }).resolves({
      Body: { transformToString: () => Promise.resolve(JSON.stringify(manifest)) },
    } as never);
    const saved = { ...process.env };
    Object.assign(process.env, {
      [ENV.model]: model,
      [ENV.exitLogsTable]: workerTables.exitLogs,
      [ENV.configsTable]: workerTables.configs,
      [ENV.bundleBucket]: 'bundles',
      [ENV.bundlePrefix]: 'prod/',
      [ENV.accuracyConstraint]: String(CONSTRAINT),
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
    });
    const output: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      output.push(String(chunk));
      return true;
    });
    let report: ControllerRunReport;
    try {
      // When EventBridge invokes the handler, built from that environment, once the logs have settled
      const runtime = controllerRuntimeFromEnv(process.env);
      // (its clock just past the settling lag of the last log, so later logs are new to the next run)
      const lastStartMs = Math.max(...logs.map((batch) => batch.startedAtMs));
      const clock = () => lastStartMs + DEFAULT_CONTROLLER_TUNING.logSettleMs + 1;
      const handler = createControllerHandler({ ...runtime, clock });
      report = await handler(scheduledEvent());
    } finally {
      write.mockRestore();
      process.env = saved;
      s3.restore();
    }

    // Then it published version 1 and logged one JSON line about it
    expect(report.newVersion).toBe(1);
    const runLines = output.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(runLines).toHaveLength(1);
    expect(runLines[0]).toMatchObject({
      message: 'controller run',
      function: 'controller',
      eventId: scheduledEvent().id,
      newVersion: 1,
    });

    // And the worker, polling its config table, applies it
    expect(worker.config.version).toBe(0);
    await worker.checkConfigNow();
    expect(worker.config.version).toBe(1);
    expect(worker.config.ramps.map((ramp) => ramp.id)).toEqual(report.ramps.after);
    expect(worker.config.ramps.map((ramp) => ramp.threshold)).toEqual(report.thresholds.after);

    // When the worker serves more inputs under version 1 and the controller runs again
    for (let i = SERVED; i < SERVED + 200; i++) await workerQueue.send(servingRequest(fixture, i));
    await workerSettled(SERVED + 200);
    await workerLog.flush();
    const next = await runController(
      depsFor(
        {
          configs: new ConfigStore({ client: dynamo.doc, tableName: workerTables.configs }),
          exitLogs: new ExitLogReader({ client: dynamo.doc, tableName: workerTables.exitLogs }),
        },
        { nowMs: Date.now() + 60_000 },
      ),
    );

    // Then it tuned on the new logs alone (only they observed version 1's ramps) and moved to version 2
    expect(next.previousVersion).toBe(1);
    expect(next.logs.newRequests).toBe(200);
    expect(next.inputs).toMatchObject({ window: 200, servedWithCurrentRamps: 200, otherRampSets: SERVED });
    expect(next.newVersion).toBe(2);
    await worker.checkConfigNow();
    expect(worker.config.version).toBe(2);
  });
});

function scheduledEvent(): ScheduledEvent {
  return {
    version: '0',
    id: 'c0ffee00-0000-4000-8000-000000000001',
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '123456789012',
    time: new Date().toISOString(),
    region: 'us-east-1',
    resources: ['arn:aws:events:us-east-1:123456789012:rule/apparate-controller'],
    detail: {},
  };
}
