/**
 * The whole system on one machine, as `npm start` runs it: the fixture bundles (prepared on first
 * start), dynalite with its data on disk, one request queue per model (variant) and a pool of
 * workers that follows the published fleet plans (one worker per variant until a task has a plan),
 * task-level dispatch by the plans' weights, the controller on a timer and the HTTP API. Every part is the code that runs on AWS; only the
 * transports differ (dynalite for DynamoDB, the in-process queue or BullMQ for SQS, a node:http
 * server for API Gateway), so what works here works there.
 */
import { createWriteStream, mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type AnswerChannel, MemoryAnswerChannel, RedisAnswerChannel } from '../../adapters/answers';
import {
  BatchedReads,
  BatchedSettles,
  ConfigStore,
  createTables,
  documentClientFor,
  ExitLogReader,
  ExitLogWriter,
  PlanStore,
  ResultStore,
  tableNames,
} from '../../adapters/dynamo';
import { workersByVariant } from '../../core/fleet/plan';
import type { VersionedPlan } from '../../core/fleet/published-plan';
import { TaskDispatcher } from '../../core/fleet/task-dispatcher';
import { taskVariants, type TaskVariants } from '../../core/fleet/tasks';
import { localDynamoClient, startDynalite, type DynaliteServer } from '../../adapters/dynalite';
import { createRequestQueue } from '../../adapters/create-queue';
import type { RequestQueue } from '../../adapters/queue';
import {
  AdmissionControl,
  ApiMetrics,
  type ControllerRunReport,
  createIngestHandlers,
  createDashboardHandlers,
  createOpenInferenceHandler,
  createResultHandler,
  dispatcherRouting,
  localBundleCatalog,
  runController,
  startApiServer,
  startControllerTimer,
  WriteBehind,
} from '../../functions';
import {
  ApparateWorker,
  GenerationEngine,
  GenerationMetrics,
  jsonLinesLogger,
  recordGenerationLogs,
  serveGenerate,
  type Logger,
  messageOf,
  PublishingResultSink,
  type ThreadLayout,
} from '../../gpu-worker';
import { StoreResultSink } from '../../core/serving/result-sink';
import type { Progress } from '../progress';
import { ensureFixtureBundles, type FixtureBundle } from './fixture-bundles';
import { localDashboardSources } from './dashboard-sources';
import { writeStackFile } from './stack-file';
import { WorkerPool } from './worker-pool';

/**
 * How long the local stack's batch of settled answers waits for more, ms: at a tenth of capacity
 * it halves the table calls per request, and the durable copy of an answer the client already has
 * trails it by at most this much.
 */
const SETTLE_LINGER_MS = 20;

export interface LocalStackOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Holds `dynamo/` (dynalite's files, omitted for an in-memory stack) and `stack.log`. */
  readonly dataDir: string;
  /** Keep DynamoDB data in memory instead of under `dataDir` (tests, throwaway demos). */
  readonly inMemory?: boolean;
  /** Where bundles are cached. */
  readonly bundleCacheDir: string;
  readonly models: readonly string[];
  /** BullMQ on this Redis instead of the in-process queue. */
  readonly redisUrl?: string;
  readonly controllerPeriodMs: number;
  /** How often workers look for a newer config. */
  readonly configPollMs: number;
  readonly accuracyConstraint: number;
  readonly rampBudget: number;
  readonly prepareRepeats: number;
  readonly progress: Progress;
  /** Prefix of table and queue names, so stacks sharing a Redis keep apart. @default 'apparate-local' */
  readonly namePrefix?: string;
  /** Bundles to serve as they are, instead of the cached fixture bundles (tests). */
  readonly bundles?: readonly FixtureBundle[];
  /**
   * Fraction of its deadline a request's predicted wait may take before it is refused with 429.
   * @default 1
   */
  readonly admissionHeadroom?: number;
  /** Where the stack's JSON logs go. @default `<dataDir>/stack.log` */
  readonly logger?: Logger;
  /**
   * Directories of generative models (like `zoo/generative/moby-gpt`) served at
   * `POST /v1/models/{name}/generate` beside the classifiers, named by their directory. @default none
   */
  readonly generativeModels?: readonly string[];
  /** How each classifier's worker spreads its sessions over the cores. @default one thread, all cores */
  readonly threadLayout?: ThreadLayout;
  /** Serves ramps through exit taps where available; false cuts the model at them. @default true */
  readonly exitTaps?: boolean;
}

export interface LocalStack {
  readonly url: string;
  readonly bundles: readonly FixtureBundle[];
  readonly queueKind: 'memory' | 'bullmq';
  readonly logPath: string | undefined;
  /** The workers, per variant, as the plans size them. */
  readonly pool: WorkerPool;
  /** Each task the served variants make up, and its variants. */
  readonly tasks: TaskVariants;
  /** Where fleet plans are published; the stack follows them every `configPollMs`. */
  readonly plans: PlanStore;
  readonly dispatcher: TaskDispatcher;
  /** The generative models served, by name. */
  readonly generators: ReadonlyMap<string, GenerationEngine>;
  /** Runs the controller for every model now (the timer does it every period); returns its reports. */
  runControllers(): Promise<ControllerRunReport[]>;
  /**
   * Follows every task's newest published plan now (the stack also does it every `configPollMs`):
   * starts the workers it adds, moves the task's traffic to its weights, then drains the workers it
   * removes. Resolves once the pool has its new size.
   */
  followPlans(): Promise<void>;
  /** Stops the API, the controller, the workers (finishing their batches), then the stores. */
  close(): Promise<void>;
}

/** How old a batch's exit log must be before the local controller reads it, ms. */
const LOCAL_LOG_SETTLE_MS = 2000;

/** The default prefix of the stack's tables and queues. */
export const LOCAL_PREFIX = 'apparate-local';

/** Starts everything; on failure, whatever already started is stopped again before the error. */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async (): Promise<void> => {
    for (const step of cleanups.splice(0).reverse()) await step().catch(() => undefined);
  };
  try {
    return await start(options, cleanups, cleanup);
  } catch (error) {
    await cleanup();
    throw error;
  }
}

async function start(
  options: LocalStackOptions,
  cleanups: (() => Promise<void>)[],
  cleanup: () => Promise<void>,
): Promise<LocalStack> {
  mkdirSync(options.dataDir, { recursive: true });
  let logPath: string | undefined;
  let logger = options.logger;
  if (logger === undefined) {
    logPath = join(options.dataDir, 'stack.log');
    const stream = createWriteStream(logPath, { flags: 'a' });
    cleanups.push(() => new Promise<void>((resolve) => stream.end(resolve)));
    logger = jsonLinesLogger(stream);
  }
  const bundles =
    options.bundles ??
    (await ensureFixtureBundles({
      cacheDir: options.bundleCacheDir,
      models: options.models,
      repeats: options.prepareRepeats,
      rampBudget: options.rampBudget,
      progress: options.progress,
    }));

  const dynalite: DynaliteServer = await startDynalite(
    options.inMemory === true ? {} : { path: join(options.dataDir, 'dynamo') },
  );
  cleanups.push(() => dynalite.close());
  const client: DynamoDBClient = localDynamoClient(dynalite.endpoint);
  cleanups.push(() => Promise.resolve(client.destroy()));
  const doc = documentClientFor(client);
  const prefix = options.namePrefix ?? LOCAL_PREFIX;
  const tables = tableNames(prefix);
  await createTables(client, tables);
  const results = new ResultStore({ client: doc, tableName: tables.results });
  const configs = new ConfigStore({ client: doc, tableName: tables.configs });
  const exitLog = new ExitLogWriter({ client: doc, tableName: tables.exitLogs });
  cleanups.push(() => exitLog.close());
  const exitLogs = new ExitLogReader({ client: doc, tableName: tables.exitLogs });
  const catalog = localBundleCatalog(Object.fromEntries(bundles.map((b) => [b.model, b.dir])));

  const queueKind = options.redisUrl === undefined ? 'memory' : 'bullmq';
  const queues = new Map<string, RequestQueue>();
  for (const { model } of bundles) {
    const queue = createRequestQueue({
      kind: queueKind,
      name: `${prefix}-${model}`,
      ...(options.redisUrl === undefined ? {} : { redisUrl: options.redisUrl }),
    });
    queues.set(model, queue);
    cleanups.push(() => queue.close());
  }
  const queueFor = (model: string): RequestQueue | undefined => queues.get(model);

  // Answers are pushed to the waiting requests over the queue's own transport: in process, or
  // Redis pub/sub beside BullMQ; the results table stays the durable record.
  const answers: AnswerChannel =
    options.redisUrl === undefined
      ? new MemoryAnswerChannel()
      : new RedisAnswerChannel({ namespace: prefix, redisUrl: options.redisUrl });
  cleanups.push(() => answers.close());
  // The durable record of settled answers is written in batches (two table calls per 25 requests),
  // since the waiting clients already have their answers from the channel; a batch waits a few
  // milliseconds for the next ones, so that low rates (one request per worker batch) batch too.
  const sink = new PublishingResultSink(
    answers,
    new StoreResultSink(new BatchedSettles(results, { lingerMs: SETTLE_LINGER_MS })),
    (error, requestId) => logger.log('warn', 'answer not published', { requestId, error: messageOf(error) }),
  );

  const manifests = await Promise.all(bundles.map((b) => catalog.manifest(b.model)));
  const tasks = taskVariants(
    bundles.map((b, i) => ({ name: b.model, dataset: manifests[i]?.model.spec.dataset })),
  );
  const dispatcher = new TaskDispatcher(tasks);
  const plans = new PlanStore({ client: doc, tableName: tables.configs });
  const bundleDirs = new Map(bundles.map((b) => [b.model, b.dir]));
  const pool = new WorkerPool({
    start: (variant, workerId) =>
      ApparateWorker.start({
        bundleDir: bundleDirs.get(variant) ?? '',
        queue: queueFor(variant) as RequestQueue,
        sink,
        configStore: configs,
        configPollMs: options.configPollMs,
        exitLog,
        logger,
        modelId: variant,
        workerId,
        // The guard holds the constraint the controller below tunes to.
        guard: { constraint: options.accuracyConstraint },
        ...options.threadLayout,
        ...(options.exitTaps !== undefined ? { exitTaps: options.exitTaps } : {}),
      }),
    queueFor,
    logger,
  });
  cleanups.push(() => pool.stop());
  // Until a task has a plan, each variant has one worker.
  const initial = await pool.grow(new Map(bundles.map((b) => [b.model, 1])));
  for (const [variant, why] of initial.failed) throw new Error(`worker for ${variant} did not start: ${why}`);

  const follow = planFollower({ tasks, plans, pool, dispatcher, logger });
  const followTimer = setInterval(() => void follow().catch(() => undefined), options.configPollMs);
  followTimer.unref();
  cleanups.push(async () => {
    clearInterval(followTimer);
    await follow().catch(() => undefined);
  });

  // Generative models: one decoding thread each, tuning its own thresholds on per-token agreement
  // at the stack's constraint, and logging every step's token records to the same exit-log table.
  const generators = new Map<string, GenerationEngine>();
  const generationMetrics = new GenerationMetrics();
  for (const modelDir of options.generativeModels ?? []) {
    const name = basename(modelDir);
    const engine = await GenerationEngine.start({ modelDir, constraint: options.accuracyConstraint });
    cleanups.push(() => engine.close());
    engine.onEvent((event) => generationMetrics.observeEvent(name, event));
    engine.onEvent(recordGenerationLogs({ model: name, workerId: `local-${process.pid}`, writer: exitLog }));
    generators.set(name, engine);
  }

  const runControllers = async (): Promise<ControllerRunReport[]> => {
    const reports: ControllerRunReport[] = [];
    for (const { model } of bundles) {
      const manifest = await catalog.manifest(model);
      if (manifest === undefined) continue;
      const report = await runController({
        model,
        manifest,
        exitLogs,
        configs,
        nowMs: Date.now(),
        constraint: options.accuracyConstraint,
        rampBudget: options.rampBudget,
        logger,
        // One process writes and reads the logs here, and its writer flushes every second, so
        // logs settle far sooner than the ten seconds allowed for on AWS.
        options: { logSettleMs: LOCAL_LOG_SETTLE_MS },
      });
      reports.push(report);
    }
    return reports;
  };
  const timer = startControllerTimer({ periodMs: options.controllerPeriodMs, run: runControllers, logger });
  cleanups.push(() => timer.stop());

  // Requests (sync or async) beyond what the model's worker can serve within their deadlines get 429 at once.
  const admission = new AdmissionControl({
    serviceRatePerSec: (model) => {
      const serving = pool.workersOf(model);
      return serving.length === 0 ? undefined : serving.reduce((sum, w) => sum + w.serviceRatePerSec, 0);
    },
    ...(options.admissionHeadroom === undefined ? {} : { headroom: options.admissionHeadroom }),
  });
  const writeBehind = new WriteBehind({
    onFailure: (what, error, fields) => logger.log('error', what, { ...fields, error: messageOf(error) }),
  });
  cleanups.push(() => writeBehind.drain());
  const ingest = createIngestHandlers({
    catalog,
    queueFor,
    results,
    // Over Redis pub/sub each waiting request reads its record once a second; read together.
    waitingReads: new BatchedReads(results),
    answers,
    writeBehind,
    admission,
    routing: dispatcherRouting(dispatcher),
  });
  const api = await startApiServer({
    host: options.host,
    port: options.port,
    ingest: ingest.handler,
    streams: { ingest: ingest.stream },
    result: createResultHandler({ catalog, results, configs }),
    openInference: createOpenInferenceHandler({ ingest: ingest.handler, catalog }),
    ...(generators.size === 0
      ? {}
      : {
          generate: (request, response, model) =>
            serveGenerate(request, response, model, { engines: generators, metrics: generationMetrics }),
        }),
    metrics: new ApiMetrics({
      admission,
      writeBehind,
      // The generation server's families, served at the same /metrics when it serves a model.
      alsoServe: generators.size === 0 ? [] : [generationMetrics.registry],
    }),
    localRoutes: createDashboardHandlers(
      localDashboardSources({
        models: bundles.map((b) => b.model),
        exitLogs,
        configs,
        queues,
        workersOf: (model) => pool.workersOf(model),
        constraint: options.accuracyConstraint,
      }),
    ),
  });
  cleanups.push(() => api.close());
  const removeStackFile = writeStackFile(options.dataDir, {
    url: api.url,
    dynamoEndpoint: dynalite.endpoint,
    tablePrefix: prefix,
    models: bundles.map((b) => b.model),
    accuracyConstraint: options.accuracyConstraint,
    pid: process.pid,
    startedAtMs: Date.now(),
  });
  cleanups.push(() => Promise.resolve(removeStackFile()));
  logger.log('info', 'local stack started', { url: api.url, queue: queueKind, models: options.models });

  return {
    url: api.url,
    bundles,
    queueKind,
    logPath,
    pool,
    tasks,
    plans,
    dispatcher,
    generators,
    runControllers,
    followPlans: follow,
    close: cleanup,
  };
}

interface PlanFollowerParts {
  readonly tasks: TaskVariants;
  readonly plans: PlanStore;
  readonly pool: WorkerPool;
  readonly dispatcher: TaskDispatcher;
  readonly logger: Logger;
}

/**
 * Reads each task's newest plan and, when it is newer than the one followed, applies it in the
 * order that loses nothing: start the workers it adds, move the traffic, then drain the workers it
 * removes (a variant losing its last worker waits for its queue to empty). A variant whose workers
 * fail to start gets no traffic until a later plan starts it. One pass at a time.
 */
function planFollower(parts: PlanFollowerParts): () => Promise<void> {
  const { tasks, plans, pool, dispatcher, logger } = parts;
  let queued: Promise<void> | undefined;
  const apply = async (published: VersionedPlan): Promise<void> => {
    const planned = workersByVariant(published.plan);
    const variants = tasks.get(published.plan.task) ?? [];
    const target = new Map(variants.map((v) => [v, planned.get(v) ?? 0]));
    const grown = await pool.grow(target);
    const unserved = new Set([...grown.failed.keys()].filter((v) => pool.workersOf(v).length === 0));
    dispatcher.follow(
      unserved.size === 0
        ? published
        : {
            ...published,
            plan: {
              ...published.plan,
              groups: published.plan.groups.filter((g) => !unserved.has(g.variant)),
            },
          },
    );
    await pool.shrink(target);
    logger.log('info', 'fleet plan followed', {
      task: published.plan.task,
      version: published.version,
      workers: Object.fromEntries(target),
      ...(unserved.size === 0 ? {} : { unserved: [...unserved] }),
    });
  };
  const once = async (): Promise<void> => {
    for (const task of tasks.keys()) {
      try {
        const latest = await plans.latest(task);
        const followed = dispatcher.planVersion(task);
        if (latest !== undefined && (followed === undefined || latest.plan.version > followed)) {
          await apply(latest.plan);
        }
      } catch (error) {
        logger.log('error', 'fleet plan not followed', { task, error: messageOf(error) });
      }
    }
  };
  // A call during a pass gets the next pass (which reads the plans afresh); calls while that one
  // waits to start share it.
  let running: Promise<void> = Promise.resolve();
  return () => {
    if (queued === undefined) {
      const next = running.then(() => {
        queued = undefined;
        return once();
      });
      queued = next;
      running = next;
    }
    return queued;
  };
}
