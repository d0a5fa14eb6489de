/**
 * The worker: receives requests from the queue, batches them with the shared batching policy,
 * serves each batch on the inference engine (releasing early answers as ramps become confident),
 * stores the answers, acknowledges the messages, logs each batch, guards agreement locally and
 * follows the controller's configs. See the batcher for the request states; the loops are:
 *
 * - the receive loop: `receive` → validate → `admit` (or answer the request's error and ack), until
 *   stopped; it pauses while `maxQueued` requests wait, so a backlog stays on the queue, where other
 *   workers can take it;
 * - the serve loop: ask the policy for a batch, answer the requests it dropped (past their
 *   deadline: `deadline_exceeded`, acked, never served), run the batch, ack what was stored and
 *   hand back what was not, record the batch's exit log, update the guard; one batch at a time;
 * - a heartbeat that extends the visibility of every held message while it waits or runs.
 *
 * `stop()` (SIGTERM) stops receiving, lets the batch in flight finish and be acknowledged, hands the
 * queued requests back to the queue, flushes the exit log and closes the engine.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { ExitLogWriter, ConfigStore } from '../adapters/dynamo';
import type { ReceivedMessage, RequestQueue } from '../adapters/queue';
import { createBatchingPolicy } from '../core/batching/create-policy';
import type { BatchingPolicy } from '../core/batching/policy';
import { readBundle } from '../core/bundle/bundle-io';
import { costProfileFromManifest } from '../core/bundle/cost-profile';
import type { RampConfig } from '../core/control/ramp-config';
import { configCostsAt } from '../core/control/costs';
import { InputError } from '../core/errors';
import { createBatchEncoder } from '../core/inference/batch-encoding';
import type { ExecutionProvider } from '../core/inference/onnx-session';
import { memoryPatternFor } from '../core/inference/memory-pattern';
import { executeBatch, type BatchReport } from './batch-execution';
import { Batcher, type HeldRequest } from './batcher';
import { ConfigWatcher } from './config-watcher';
import { InferenceEngine } from './inference/inference-engine';
import { resolveThreadLayout, type ThreadLayout } from '../core/inference/thread-layout';
import { createInputValidator } from '../core/inference/input-validation';
import { LocalGuard, type LocalGuardOptions } from './local-guard';
import { jsonLinesLogger, messageOf, type Logger } from './logger';
import { WorkerMetrics } from './metrics';
import type { ResultSink } from '../core/serving/result-sink';
import { ack, answerError, handBack, type Settler } from './settle';

/**
 * Options of a worker. Its thread layout (`inferenceThreads`, `intraOpThreads`) defaults per
 * provider, see thread-layout.ts: on a CPU, one single-threaded lane per core (up to four).
 */
export interface WorkerOptions extends ThreadLayout {
  readonly bundleDir: string;
  readonly queue: RequestQueue;
  readonly sink: ResultSink;
  /** The config to start with. @default the bundle's initial config */
  readonly config?: RampConfig;
  /** @default 'cpu'; a provider this build lacks fails `start` */
  readonly executionProvider?: ExecutionProvider;
  /**
   * Serves ramps through exit taps where they are available; false serves the model cut at its
   * ramps, for comparing the two on the same bundle (`InferenceEngineOptions.exitTaps`). @default true
   */
  readonly exitTaps?: boolean;
  /** The model id in requests, configs and logs. @default the bundle's model name */
  readonly modelId?: string;
  /** Where newer configs are published; without it the worker keeps its config. */
  readonly configStore?: Pick<ConfigStore, 'latest'>;
  /** @default 5000 */
  readonly configPollMs?: number;
  /** Receives one item per batch; never awaited on the serving path. */
  readonly exitLog?: Pick<ExitLogWriter, 'record' | 'flush' | 'stats'>;
  /**
   * Builds the batching policy; it is given the profiled latency of the config serving now.
   * @default clockwork over the bundle's profiled batch sizes
   */
  readonly policy?: (
    latencyMs: (paddedSize: number) => number,
    batchSizes: readonly number[],
  ) => BatchingPolicy;
  /** The queue's visibility timeout; held messages are extended by it every third of it. @default 30000 */
  readonly visibilityTimeoutMs?: number;
  /** Longest a receive waits for the first message. @default 200 */
  readonly receiveWaitMs?: number;
  /** Requests held waiting before receiving pauses. @default four largest batches */
  readonly maxQueued?: number;
  /**
   * The local guard; give it the deployment's accuracy constraint (the controller's), or the guard
   * and the controller pull thresholds in opposite directions.
   */
  readonly guard?: LocalGuardOptions;
  readonly logger?: Logger;
  readonly metrics?: WorkerMetrics;
  /** Names this worker in batch ids and logs. @default a random id */
  readonly workerId?: string;
  /** Called after each batch's answers are stored and acknowledged (tests, benchmarks). */
  readonly onBatch?: (report: BatchReport, overheadMs: readonly number[]) => void;
}

/** Counts since start, for tests and the shutdown log line. */
export interface WorkerCounts {
  batches: number;
  served: number;
  invalid: number;
  deadlineExceeded: number;
  handedBack: number;
  storeFailures: number;
}

export class ApparateWorker {
  readonly counts: WorkerCounts = {
    batches: 0,
    served: 0,
    invalid: 0,
    deadlineExceeded: 0,
    handedBack: 0,
    storeFailures: 0,
  };
  /** Settles once the worker has stopped; rejects if it stopped because the engine failed. */
  readonly done: Promise<void>;
  private readonly batcher: Batcher;
  private readonly validate: ReturnType<typeof createInputValidator>;
  private readonly encoder: ReturnType<typeof createBatchEncoder>;
  private readonly guard: LocalGuard;
  private readonly watcher: ConfigWatcher | undefined;
  private readonly logger: Logger;
  /** How messages are acknowledged or handed back (shared with the plain server). */
  private readonly settler: Settler & { readonly sink: ResultSink };
  private readonly visibilityTimeoutMs: number;
  private readonly receiveWaitMs: number;
  private readonly maxQueued: number;
  private readonly maxReceive: number;
  /**
   * Epoch ms at `performance.now()` 0, to sub-millisecond precision: `Date.now() - performance.now()`
   * truncates to the millisecond, so two processes' clocks built that way disagree by up to 1 ms,
   * as much as the parts of a request's time that other processes compare with these stamps.
   */
  private readonly epochOffsetMs = performance.timeOrigin;
  private readonly background = new Set<Promise<unknown>>();
  private stopping = false;
  private stopRequested: Promise<void> | undefined;
  private readonly waiters = new Set<() => void>();
  private heartbeat: NodeJS.Timeout | undefined;
  private nextBatch = 0;
  /** Recent batches' wall time over their profiled latency, smoothed: how this machine runs now. */
  private slowdown = 1;

  private constructor(
    private readonly options: WorkerOptions,
    private readonly engine: InferenceEngine,
    policy: BatchingPolicy,
    spec: Parameters<typeof createBatchEncoder>[0],
    readonly modelId: string,
    readonly workerId: string,
    readonly metrics: WorkerMetrics,
    private readonly profiledMs: (paddedSize: number) => number,
  ) {
    this.batcher = new Batcher(policy);
    this.validate = createInputValidator(spec);
    this.encoder = createBatchEncoder(spec);
    this.guard = new LocalGuard(options.guard);
    this.logger = options.logger ?? jsonLinesLogger(process.stderr, { workerId, model: modelId });
    this.settler = { queue: options.queue, sink: options.sink, logger: this.logger };
    this.visibilityTimeoutMs = options.visibilityTimeoutMs ?? 30_000;
    this.receiveWaitMs = options.receiveWaitMs ?? 200;
    const largest = Math.max(...engine.bundle.batchSizes);
    this.maxQueued = options.maxQueued ?? 4 * largest;
    this.maxReceive = largest;
    metrics.configVersion.set(engine.config.version);
    if (options.configStore !== undefined) {
      this.watcher = new ConfigWatcher({
        store: options.configStore,
        model: modelId,
        currentVersion: () => this.engine.config.version,
        apply: (config) => this.engine.swapConfig(config),
        logger: this.logger,
        ...(options.configPollMs === undefined ? {} : { pollMs: options.configPollMs }),
        onApplied: (config) => this.metrics.configVersion.set(config.version),
      });
    }
    this.done = this.run();
  }

  /**
   * Loads the bundle, starts and warms the engine, then starts serving. Rejects (InputError,
   * ArtifactError) when the bundle, config or provider is unusable; nothing is received then.
   */
  static async start(options: WorkerOptions): Promise<ApparateWorker> {
    const bundle = await readBundle(options.bundleDir);
    const { manifest } = bundle;
    const config = options.config ?? manifest.initialConfig;
    const provider = options.executionProvider ?? 'cpu';
    const engine = await InferenceEngine.start({
      bundleDir: options.bundleDir,
      config,
      executionProvider: provider,
      ...resolveThreadLayout(options, provider),
      ...(options.exitTaps !== undefined ? { exitTaps: options.exitTaps } : {}),
    });
    try {
      const profile = costProfileFromManifest(manifest);
      const indexOf = new Map(manifest.candidates.map((candidate, index) => [candidate.id, index]));
      let cached: { version: number; active: number[] } | undefined;
      // The policy asks at decision time, so it always plans with the config that serves now.
      const latencyMs = (paddedSize: number): number => {
        const serving = engine.config;
        if (cached?.version !== serving.version) {
          cached = {
            version: serving.version,
            active: serving.ramps.map((ramp) => indexOf.get(ramp.id) ?? 0),
          };
        }
        return configCostsAt(profile, cached.active, paddedSize).finalMs;
      };
      const batchSizes = engine.bundle.batchSizes;
      const policy =
        options.policy?.(latencyMs, batchSizes) ??
        createBatchingPolicy({ name: 'clockwork', latencyMs, batchSizes });
      const workerId = options.workerId ?? randomUUID().slice(0, 8);
      return new ApparateWorker(
        options,
        engine,
        policy,
        manifest.model.spec,
        options.modelId ?? engine.bundle.modelName,
        workerId,
        options.metrics ?? new WorkerMetrics(),
        latencyMs,
      );
    } catch (error) {
      await engine.close();
      throw error;
    }
  }

  /** The config the next batch runs under. */
  get config(): RampConfig {
    return this.engine.config;
  }

  /**
   * Requests per second this worker can serve now: the best throughput over its batch sizes in
   * the serving config's profile, scaled by how much slower than profiled its recent batches ran
   * (wall time, releases and encoding included), times the batches that run side by side. The
   * front door's backpressure divides the backlog by it.
   */
  get serviceRatePerSec(): number {
    let best = 0;
    for (const size of this.engine.bundle.batchSizes) {
      const ms = this.profiledMs(size) * this.slowdown;
      if (ms > 0) best = Math.max(best, (1000 * size) / ms);
    }
    return best * this.engine.inferenceThreads;
  }

  /** The agreement the local guard holds (the deployment's accuracy constraint). */
  get accuracyConstraint(): number {
    return this.guard.constraint;
  }

  /** Requests received and held for a coming batch (for dashboards). */
  get queued(): number {
    return this.batcher.queued;
  }

  /** Whether the worker is serving (for `/healthz`). */
  get healthy(): boolean {
    return !this.stopping;
  }

  /** Polls the config table now (tests; the watcher also polls on its own). */
  async checkConfigNow(): Promise<void> {
    await this.watcher?.pollOnce();
  }

  /**
   * Graceful stop: no more receives, the batch in flight finishes and is acknowledged, queued
   * requests go back to the queue, the exit log is flushed and the engine closed. Resolves when
   * all of that is done. The queue itself stays open: its owner closes it.
   */
  stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.logger.log('info', 'worker stopping', { queued: this.batcher.queued });
      this.wakeAll();
    }
    this.stopRequested ??= this.done.catch(() => undefined);
    return this.stopRequested;
  }

  private async run(): Promise<void> {
    this.logger.log('info', 'worker started', {
      configVersion: this.engine.config.version,
      ramps: this.engine.config.ramps.map((ramp) => ramp.id),
      queue: this.options.queue.kind,
      accuracyConstraint: this.guard.constraint,
      inferenceThreads: this.engine.inferenceThreads,
      sharedArena: this.engine.sharedArena.shared,
      ...(this.engine.sharedArena.shared ? {} : { sharedArenaUnavailable: this.engine.sharedArena.reason }),
      directRun: this.engine.directRun.direct,
      ...(this.engine.directRun.direct ? {} : { directRunUnavailable: this.engine.directRun.reason }),
      memoryPattern: memoryPatternFor(this.engine.sharedArena.shared),
      servedBy: this.engine.servedBy.kind,
      ...(this.engine.servedBy.kind === 'segments' && this.engine.servedBy.reason
        ? { segmentsBecause: this.engine.servedBy.reason }
        : {}),
    });
    this.watcher?.start();
    this.heartbeat = setInterval(
      () => this.extendHeld(),
      Math.max(1, Math.floor(this.visibilityTimeoutMs / 3)),
    );
    let failure: unknown;
    const receiving = this.receiveLoop();
    try {
      await this.serveLoop();
    } catch (error) {
      failure = error;
      this.stopping = true;
      this.logger.log('error', 'worker failed', { error: messageOf(error) });
    }
    await receiving;
    await this.shutdown();
    if (failure !== undefined) {
      throw failure instanceof Error ? failure : new Error(messageOf(failure));
    }
  }

  private async receiveLoop(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      if (this.batcher.queued >= this.maxQueued) {
        await this.waitForChange(20);
        continue;
      }
      let messages: ReceivedMessage[];
      try {
        messages = await this.options.queue.receive(this.maxReceive, this.receiveWaitMs);
        failures = 0;
      } catch (error) {
        if (this.stopping) break;
        failures += 1;
        this.logger.log('warn', 'receive failed', { error: messageOf(error), failures });
        await this.waitForChange(Math.min(5000, 100 * 2 ** failures));
        continue;
      }
      if (this.stopping) {
        for (const message of messages) this.track(this.handBack(message, 'worker stopping'));
        break;
      }
      for (const message of messages) this.admit(message);
      if (messages.length > 0) this.wakeAll();
    }
  }

  private admit(message: ReceivedMessage): void {
    const began = performance.now();
    const { request } = message;
    if (request.model !== this.modelId) {
      this.answerError(
        message,
        'unknown_model',
        `this worker serves model ${this.modelId}, not ${request.model}`,
      );
      return;
    }
    const validated = this.validate(request.input);
    if (!validated.ok) {
      this.counts.invalid += 1;
      this.answerError(message, validated.problem.code, validated.problem.message);
      return;
    }
    const nowMs = Date.now();
    const outcome = this.batcher.admit(message, validated.sample, nowMs);
    if (outcome === 'queued' || outcome === 'redelivered') {
      this.batcher.noteAdmitCost(request.requestId, performance.now() - began);
      this.metrics.requests.inc({ outcome: outcome === 'queued' ? 'received' : 'redelivered' });
      return;
    }
    if (outcome.dropped === 'deadline') {
      this.answerDeadline(message);
    } else {
      this.track(this.handBack(message, outcome.dropped));
    }
  }

  /**
   * Forms batches and hands them to the engine, keeping as many in flight as it has inference
   * threads: a thread that finishes gets the next batch while the others still run. A batch that
   * kills the engine ends the loop once the others in flight have settled.
   */
  private async serveLoop(): Promise<void> {
    const inFlight = new Set<Promise<void>>();
    let failure: { error: unknown } | undefined;
    try {
      for (;;) {
        this.answerDropped();
        if (this.stopping || failure !== undefined) break;
        if (inFlight.size >= this.engine.inferenceThreads) {
          await Promise.race(inFlight);
          continue;
        }
        const nowMs = Date.now();
        const decision = this.batcher.next(nowMs);
        this.answerDropped();
        if (decision.kind === 'serve') {
          const served: Promise<void> = this.serve(decision.requests, decision.paddedSize)
            .catch((error: unknown) => {
              failure ??= { error };
            })
            .finally(() => {
              inFlight.delete(served);
              this.wakeAll();
            });
          inFlight.add(served);
          continue;
        }
        await this.waitForChange(decision.kind === 'wait' ? Math.max(1, decision.untilMs - nowMs) : 1000);
      }
    } finally {
      await Promise.all(inFlight);
    }
    if (failure !== undefined) throw failure.error;
  }

  private async serve(requests: HeldRequest[], paddedSize: number): Promise<void> {
    const began = performance.now();
    const batchId = `${this.workerId}-${++this.nextBatch}`;
    this.logger.log('debug', 'batch started', { batchId, size: requests.length, paddedSize });
    let report: BatchReport;
    try {
      report = await executeBatch(
        {
          engine: this.engine,
          encoder: this.encoder,
          sink: this.options.sink,
          model: this.modelId,
          classes: this.engine.bundle.classes,
          epochOffsetMs: this.epochOffsetMs,
          thresholdsFor: (config) => this.guard.thresholdsFor(config),
        },
        requests,
        paddedSize,
        batchId,
      );
    } catch (error) {
      this.logger.log('error', 'batch failed', { batchId, error: messageOf(error) });
      await Promise.all(requests.map((request) => this.settle(request, false, 'batch failed')));
      // A refused batch (bad feeds) costs its requests one receive; a dead engine ends the worker.
      if (error instanceof InputError) return;
      throw error;
    }
    const overheadMs = this.afterBatch(report, performance.now() - began);
    // The next batch need not wait for the durable writes: each request is acknowledged (or handed
    // back) once its own answers are stored, in the background.
    this.track(
      report.stored.then(async (stored) => {
        await Promise.all(
          requests.map((request, i) => this.settle(request, stored[i] === true, 'store failed')),
        );
        this.options.onBatch?.(report, overheadMs);
      }),
    );
  }

  /** Acks a request whose answers are stored, or hands it back for another try. */
  private async settle(request: HeldRequest, stored: boolean, why: string): Promise<void> {
    this.batcher.settle(request);
    if (!stored) {
      this.counts.storeFailures += 1;
      this.metrics.requests.inc({ outcome: 'store_failed' });
      await this.handBack(request.message, why);
      return;
    }
    await ack(this.settler, request.message);
  }

  /** Counts, metrics, exit log and guard for a batch that ran; returns each request's overhead, ms. */
  private afterBatch(report: BatchReport, totalMs: number): number[] {
    const rows = report.requests.length;
    this.counts.batches += 1;
    this.counts.served += rows;
    const { metrics } = this;
    metrics.batchSize.observe(rows);
    this.options.exitLog?.record(report.logItem);
    if (this.options.exitLog !== undefined) metrics.droppedLogItems.set(this.options.exitLog.stats().dropped);
    const profiled = this.profiledMs(report.paddedSize);
    if (profiled > 0 && totalMs > 0) {
      const ratio = Math.min(100, Math.max(0.1, totalMs / profiled));
      this.slowdown = 0.8 * this.slowdown + 0.2 * ratio;
    }
    const overheadShareMs = Math.max(0, totalMs - report.engineMs) / rows;
    const overheadMs: number[] = [];
    report.requests.forEach((held, i) => {
      const request = held.message.request;
      const exit = report.exitIndex[i] as number;
      metrics.requests.inc({ outcome: 'served' });
      metrics.exits.inc({ exit: exit < 0 ? 'final' : (report.config.ramps[exit]?.id ?? 'final') });
      metrics.queueWaitMs.observe(Math.max(0, report.startedAtMs - request.enqueuedAtMs));
      const finalMs = Math.max(0, (report.finalAtMs[i] as number) - request.enqueuedAtMs);
      metrics.finalLatencyMs.observe(finalMs);
      if (exit >= 0) {
        const earlyMs = Math.max(0, (report.earlyAtMs[i] as number) - request.enqueuedAtMs);
        metrics.earlyLatencyMs.observe(earlyMs);
        metrics.period.observe(earlyMs, finalMs);
      } else {
        metrics.period.observe(finalMs, finalMs);
      }
      overheadMs.push(held.admitMs + overheadShareMs);
    });
    if (report.config.ramps.length > 0) {
      const verdict = this.guard.observe(report.config, report.confidence, report.agrees);
      metrics.windowAgreement.set(verdict.agreement);
      if (verdict.lowered !== undefined) {
        metrics.guardLowered.inc();
        this.logger.log('warn', 'thresholds lowered by local guard', {
          configVersion: report.config.version,
          agreement: verdict.agreement,
          thresholds: verdict.lowered,
        });
      }
    }
    return overheadMs;
  }

  /** Answers the requests the policy gave up on. */
  private answerDropped(): void {
    for (const { request, reason } of this.batcher.drainDropped()) {
      if (reason === 'deadline') this.answerDeadline(request.message);
      else this.track(this.handBack(request.message, reason));
    }
  }

  private answerDeadline(message: ReceivedMessage): void {
    this.counts.deadlineExceeded += 1;
    const { deadlineAtMs } = message.request;
    this.answerError(
      message,
      'deadline_exceeded',
      `the request's deadline (${new Date(deadlineAtMs).toISOString()}) cannot be met; it was not served`,
    );
  }

  /** Stores an error answer, then acks; if the answer cannot be stored the message goes back. */
  private answerError(message: ReceivedMessage, code: string, text: string): void {
    this.metrics.requests.inc({ outcome: code });
    this.track(
      answerError(this.settler, message, code, text).then((acked) => {
        if (!acked) this.counts.handedBack += 1;
      }),
    );
  }

  private async handBack(message: ReceivedMessage, why: string): Promise<void> {
    this.counts.handedBack += 1;
    await handBack(this.settler, message, why);
  }

  private extendHeld(): void {
    for (const message of this.batcher.messages()) {
      this.track(
        this.options.queue.extendVisibility(message, this.visibilityTimeoutMs).catch((error: unknown) => {
          this.logger.log('warn', 'visibility extension failed', {
            requestId: message.request.requestId,
            error: messageOf(error),
          });
        }),
      );
    }
  }

  private track(work: Promise<unknown>): void {
    const tracked = work.catch((error: unknown) =>
      this.logger.log('error', 'background step failed', { error: messageOf(error) }),
    );
    this.background.add(tracked);
    void tracked.finally(() => this.background.delete(tracked));
  }

  /** Sleeps up to `ms`, waking early when a request arrives or `stop` is called. */
  private waitForChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.waiters.add(wake);
    });
  }

  private wakeAll(): void {
    for (const wake of [...this.waiters]) wake();
  }

  private async shutdown(): Promise<void> {
    clearInterval(this.heartbeat);
    await this.watcher?.stop();
    const queued = this.batcher.takeQueued();
    await Promise.all(queued.map((request) => this.handBack(request.message, 'worker stopping')));
    while (this.background.size > 0) await Promise.all([...this.background]);
    await this.options.exitLog?.flush();
    await this.engine.close();
    this.logger.log('info', 'worker stopped', { ...this.counts });
  }
}

/**
 * SIGTERM or SIGINT stops the worker gracefully; a second signal exits at once (status 130), for
 * an operator who will not wait for the batch in flight. Returns a function removing the handlers.
 */
export function installSignalHandlers(
  worker: Pick<ApparateWorker, 'stop'>,
  logger: Logger,
  exit: (code: number) => void = (code) => process.exit(code),
): () => void {
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) {
      logger.log('warn', 'second signal, exiting now', { signal });
      exit(130);
      return;
    }
    signalled = true;
    logger.log('info', 'signal received, stopping', { signal });
    void worker.stop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
}
