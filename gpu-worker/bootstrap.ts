/**
 * Bootstrap mode: a worker given a model but no trained ramps. It serves the plain model at once
 * (so clients are answered from the first request), keeps the first `bootstrapSamples` inputs it
 * serves, then prepares a bundle from exactly those inputs with the preparation code of `core/`
 * (ramps labelled by the plain model's own answers, as `apparate prepare` labels them), writes the
 * bundle atomically, publishes its initial config when a config store is given, and hands over to
 * the full worker serving with exits.
 *
 * The hand-over drops nothing: the full worker is started (sessions built and warmed) while the
 * plain model still serves; then the plain server stops receiving, finishes and acknowledges its
 * batch in flight, and the full worker (already receiving from the same queue) takes every
 * request after that. Delivery is at least once throughout, so nothing received by the plain
 * server and not acknowledged is lost either: it comes back to the full worker.
 *
 * Phases: `plain` (serving and capturing) → `preparing` (still serving plain) → `exits`.
 */
import type { ConfigStore } from '../adapters/dynamo';
import { writeBundle } from '../core/bundle/bundle-io';
import type { DataSplit } from '../core/data/dataset';
import type { TextRecord } from '../core/data/dataset-spec';
import { InputError } from '../core/errors';
import type { RawSample } from '../core/inference/batch-encoding';
import type { LoadedModel } from '../core/model/load-model';
import { assertFreshDestination } from '../core/bundle/atomic-dir';
import { prepareModel, type PrepareOptions } from '../core/prepare/prepare-model';
import { messageOf, jsonLinesLogger, type Logger } from './logger';
import { WorkerMetrics } from './metrics';
import { PlainServer } from './plain-server';
import { ApparateWorker, type WorkerOptions } from './worker';

/** The fewest inputs ramps are trained on (the preparation refuses fewer). */
export const MIN_BOOTSTRAP_SAMPLES = 20;

export type BootstrapPhase = 'plain' | 'preparing' | 'exits';

export interface BootstrapOptions extends Omit<WorkerOptions, 'bundleDir' | 'config'> {
  readonly model: LoadedModel;
  /** Served inputs to train ramps on, at least MIN_BOOTSTRAP_SAMPLES. */
  readonly bootstrapSamples: number;
  /** Where the bundle is written; must not exist yet. */
  readonly bundleOut: string;
  /** Receives the bundle's initial config; without it the config stays local to this worker. */
  readonly configPublisher?: Pick<ConfigStore, 'publish'>;
  /** Passed to the preparation (budget, seed, batch sizes, profiling repeats). */
  readonly prepare?: Omit<PrepareOptions, 'bootstrapFraction' | keyof WorkerOptions>;
}

/**
 * The stream the preparation sees: the captured inputs in serving order, labelled with the plain
 * model's answers. Image inputs are stored as bytes (the validator has bounded them to 0–255).
 */
export function capturedStream(
  model: LoadedModel,
  samples: readonly RawSample[],
  answers: readonly number[],
): DataSplit {
  const labels = Uint8Array.from(answers);
  const pre = model.spec.preprocessing;
  if (pre.type === 'image') {
    const size = pre.height * pre.width * pre.channels;
    const pixels = new Uint8Array(samples.length * size);
    samples.forEach((sample, i) => {
      if (sample.kind !== 'image') throw new InputError('an image model was given a text input');
      pixels.set(
        Array.from(sample.pixels, (v) => Math.round(v)),
        i * size,
      );
    });
    // sampleAt slices height × width values per sample, so channels ride along in the width.
    return {
      kind: 'image',
      count: samples.length,
      height: pre.height,
      width: pre.width * pre.channels,
      pixels,
      labels,
    };
  }
  const records: TextRecord[] = samples.map((sample, i) => {
    if (sample.kind !== 'text') throw new InputError('a text model was given an image input');
    return { id: `bootstrap-${i}`, group: 'bootstrap', label: answers[i] ?? 0, text: sample.text };
  });
  return { kind: 'text', count: samples.length, records, labels };
}

/**
 * The bootstrap fraction that makes the preparation train on all `count` inputs: it takes
 * round(count × fraction) of them and wants the fraction strictly below 1.
 */
export function wholeStreamFraction(count: number): number {
  return (count - 0.25) / count;
}

/** Runs bootstrap mode; see the file comment for the phases. */
export class BootstrapWorker {
  /** Settles once stopped, in whichever phase; rejects when serving or preparing failed. */
  readonly done: Promise<void>;
  /** Resolves with the full worker once it serves with exits. */
  readonly serving: Promise<ApparateWorker>;
  readonly metrics: WorkerMetrics;
  private currentPhase: BootstrapPhase = 'plain';
  private worker: ApparateWorker | undefined;
  private stopping = false;
  private readonly samples: RawSample[] = [];
  private readonly answers: number[] = [];
  private captured: () => void = () => undefined;
  private readonly logger: Logger;

  private constructor(
    private readonly options: BootstrapOptions,
    private readonly plain: PlainServer,
    metrics: WorkerMetrics,
    logger: Logger,
    capturedAll: Promise<void>,
  ) {
    this.metrics = metrics;
    this.logger = logger;
    this.serving = this.run(capturedAll);
    this.done = this.serving.then(
      (worker) => worker.done,
      async (error: unknown) => {
        await this.plain.stop();
        if (!this.stopping) throw error;
      },
    );
  }

  /** Checks the options, then starts serving the plain model. */
  static async start(options: BootstrapOptions): Promise<BootstrapWorker> {
    const count = options.bootstrapSamples;
    if (!Number.isSafeInteger(count) || count < MIN_BOOTSTRAP_SAMPLES) {
      throw new InputError(
        `bootstrap samples must be a whole number of at least ${MIN_BOOTSTRAP_SAMPLES}, got ${count}`,
      );
    }
    assertFreshDestination(options.bundleOut);
    const metrics = options.metrics ?? new WorkerMetrics();
    const modelId = options.modelId ?? options.model.spec.name;
    const logger = options.logger ?? jsonLinesLogger(process.stderr, { model: modelId, phase: 'bootstrap' });
    const holder: { current?: BootstrapWorker } = {};
    let signal: () => void = () => undefined;
    const capturedAll = new Promise<void>((resolve) => (signal = resolve));
    const plain = await PlainServer.start({
      model: options.model,
      queue: options.queue,
      sink: options.sink,
      logger,
      metrics,
      modelId,
      ...(options.executionProvider === undefined ? {} : { executionProvider: options.executionProvider }),
      ...(options.intraOpThreads === undefined ? {} : { intraOpThreads: options.intraOpThreads }),
      ...(options.receiveWaitMs === undefined ? {} : { receiveWaitMs: options.receiveWaitMs }),
      onServed: (sample, classIndex) => holder.current?.capture(sample, classIndex),
    });
    const boot = new BootstrapWorker(options, plain, metrics, logger, capturedAll);
    boot.captured = signal;
    holder.current = boot;
    logger.log('info', 'bootstrap started', { samples: count, bundleOut: options.bundleOut });
    return boot;
  }

  get phase(): BootstrapPhase {
    return this.currentPhase;
  }

  /** Whether the worker is serving (for `/healthz`): true in every phase until stopped. */
  get healthy(): boolean {
    return !this.stopping && (this.worker?.healthy ?? true);
  }

  /** Graceful stop in any phase; preparation in progress is abandoned (nothing is written). */
  async stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.captured();
      this.logger.log('info', 'bootstrap stopping', { phase: this.currentPhase });
    }
    await this.plain.stop();
    await this.worker?.stop();
    await this.done.catch(() => undefined);
  }

  private capture(sample: RawSample, classIndex: number): void {
    if (this.samples.length >= this.options.bootstrapSamples) return;
    this.samples.push(sample);
    this.answers.push(classIndex);
    if (this.samples.length === this.options.bootstrapSamples) this.captured();
  }

  private async run(capturedAll: Promise<void>): Promise<ApparateWorker> {
    await Promise.race([capturedAll, this.plain.done]);
    this.assertRunning();
    this.currentPhase = 'preparing';
    const { model, bootstrapSamples } = this.options;
    this.logger.log('info', 'bootstrap captured, preparing', { samples: bootstrapSamples });
    const stream = capturedStream(model, this.samples, this.answers);
    const prepared = await prepareModel(model, stream, {
      ...this.options.prepare,
      bootstrapFraction: wholeStreamFraction(bootstrapSamples),
      ...(this.options.executionProvider === undefined
        ? {}
        : { executionProvider: this.options.executionProvider }),
      ...(this.options.intraOpThreads === undefined ? {} : { intraOpThreads: this.options.intraOpThreads }),
    });
    this.assertRunning();
    await writeBundle(this.options.bundleOut, prepared);
    const initial = prepared.manifest.initialConfig;
    this.logger.log('info', 'bootstrap bundle written', {
      bundleDir: this.options.bundleOut,
      ramps: initial.ramps.map((ramp) => ramp.id),
    });
    const modelId = this.options.modelId ?? model.spec.name;
    if (this.options.configPublisher !== undefined) {
      try {
        await this.options.configPublisher.publish(modelId, initial);
        this.logger.log('info', 'bootstrap config published', { configVersion: initial.version });
      } catch (error) {
        // A newer config already published wins; the watcher will pick it up.
        this.logger.log('warn', 'bootstrap config not published', { error: messageOf(error) });
      }
    }
    this.assertRunning();
    // Everything but the bootstrap's own options goes to the full worker.
    const {
      model: loaded,
      bootstrapSamples: captured,
      bundleOut,
      configPublisher,
      prepare,
      ...rest
    } = this.options;
    void [loaded, captured, configPublisher, prepare];
    const worker = await ApparateWorker.start({
      ...rest,
      bundleDir: bundleOut,
      metrics: this.metrics,
      logger: this.logger,
    });
    this.worker = worker;
    // The full worker is warm and receiving; only now does the plain model stop.
    await this.plain.stop();
    this.currentPhase = 'exits';
    this.logger.log('info', 'bootstrap finished, serving with exits', {
      plainServed: this.plain.served,
      configVersion: worker.config.version,
    });
    if (this.stopping) await worker.stop();
    return worker;
  }

  private assertRunning(): void {
    if (this.stopping) throw new InputError('bootstrap stopped before it finished');
  }
}
