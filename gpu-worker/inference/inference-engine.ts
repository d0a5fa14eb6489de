/**
 * The worker's handle on its inference thread, used from the main thread.
 *
 * The sessions live on a `worker_threads` thread (see inference-thread.ts) because a session run
 * holds its thread's event loop for the whole run; the main thread keeps queue I/O, batching,
 * releasing answers and logging responsive, and talks to the thread only through this class.
 *
 * Tensors cross as transferred buffers, in both directions: `run` hands the feeds' memory to the
 * thread (the caller's arrays are detached afterwards, see `run`), and every ramp's probabilities
 * and the final logits arrive in buffers the main thread then owns. Nothing is copied by
 * structured clone.
 *
 * An engine may run several inference threads side by side (`inferenceThreads`), each with its own
 * sessions: a batch goes to the thread with the fewest batches queued, and on each thread batches
 * run one at a time in submission order. On a CPU this keeps the cores busy with single-threaded
 * sessions instead of one session whose operators fan out over a thread pool: a chain of segment
 * sessions then pays no pool wake-ups at its boundaries, and the cores do more batches per second
 * (see docs/benchmarks.md, `slicing --lanes`). A config swap builds and warms the new sessions on
 * every thread beside their queues, while the current ones keep serving, and switches every thread
 * in the same turn of the event loop, exactly between two batches, so a batch runs wholly on one
 * config.
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { directRunState, type DirectRunState } from '../../core/inference/direct-session';
import { ensureSharedArena, type SharedArenaState } from '../../core/inference/shared-arena';
import type { RampConfig } from '../../core/control/ramp-config';
import { ArtifactError, InputError } from '../../core/errors';
import type { PlainFeeds } from '../../core/inference/batch-encoding';
import type { ExecutionProvider } from '../../core/inference/onnx-session';
import { checkRampConfig } from '../../core/bundle/config-check';
import {
  type BatchTimings,
  transferableFeeds,
  type ErrorKind,
  type FromThread,
  type LoadedBundleSummary,
  type RampOutput,
  type ToThread,
  type ServingMode,
} from './protocol';
import { messageOf } from '../../core/errors';

export type { BatchTimings, LoadedBundleSummary, ServingMode } from './protocol';

/** The thread's entry: a JavaScript shim that installs the TypeScript loader (see its comment). */
const THREAD_ENTRY = join(__dirname, 'inference-thread.js');

export interface InferenceEngineOptions {
  /** An EE bundle directory, as `writeBundle` (or `apparate prepare`) made it. */
  readonly bundleDir: string;
  /** The ramp config to serve first; checked against the bundle like any later one. */
  readonly config: RampConfig;
  /** Where sessions run; default `cpu`. A provider this onnxruntime build lacks fails `start`. */
  readonly executionProvider?: ExecutionProvider;
  /** Threads per operator in each session; default 0 (onnxruntime uses every core). */
  readonly intraOpThreads?: number;
  /** Inference threads serving batches side by side, each with its own sessions; default 1. */
  readonly inferenceThreads?: number;
  /**
   * Serves ramps through exit taps in one run of the whole model where they are available
   * (exit-tap.ts); default true. False serves the model cut at its ramps, for comparing the two.
   */
  readonly exitTaps?: boolean;
}

/**
 * One ramp's output for a batch, delivered while the batch still runs (or, where it released no
 * row and the batch was run with thresholds, as the batch finishes).
 */
export interface RampEvent extends RampOutput {
  /** When it reached the main thread, on the main thread's `performance.now()` clock. */
  readonly atMs: number;
}

/** What a batch gave once it reached the end of the model. */
export interface BatchOutcome {
  /** The model's output for the real rows, row-major [rows, classes]. */
  readonly logits: Float32Array;
  readonly timings: BatchTimings;
}

interface PendingRun {
  readonly onRamp: (event: RampEvent) => void;
  readonly resolve: (outcome: BatchOutcome) => void;
  readonly reject: (error: Error) => void;
  /** The first error the ramp listener threw; the batch then rejects with it. */
  listenerError?: Error;
}

interface PendingReply {
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/** One inference thread and what it has been asked and not yet answered. */
interface ThreadLink {
  readonly worker: Worker;
  /** Batches posted to it and not yet final (or failed). */
  inFlight: number;
  /** Its answers to swap steps, by swap id. */
  readonly replies: Map<number, PendingReply>;
  /** Whether it has posted `closed`. */
  closed: boolean;
}

type EngineState = 'open' | 'closing' | 'closed' | 'failed';

/** Hands one ramp output to the batch's listener, unless the listener has already thrown. */
function deliver(run: PendingRun, output: RampOutput, atMs: number): void {
  if (run.listenerError) return;
  const { rampIndex, candidateId, probs } = output;
  try {
    run.onRamp({ rampIndex, candidateId, probs, atMs });
  } catch (error) {
    run.listenerError =
      error instanceof Error ? error : new Error(`the ramp listener threw ${String(error)}`);
  }
}

/** Re-raises an error posted by the thread with the project class it had there. */
function threadError(kind: ErrorKind, message: string): Error {
  if (kind === 'input') return new InputError(message);
  if (kind === 'artifact') return new ArtifactError(message);
  return new Error(message);
}

/** Whether two configs cut the model at the same ramps, so the same sessions serve both. */
function sameRampSet(a: RampConfig, b: RampConfig): boolean {
  return a.ramps.length === b.ramps.length && a.ramps.every((ramp, i) => ramp.id === b.ramps[i]?.id);
}

function deepFreeze(config: RampConfig): RampConfig {
  config.ramps.forEach((ramp) => Object.freeze(ramp));
  Object.freeze(config.ramps);
  return Object.freeze(config);
}

/** Loads the bundle on a new thread; resolves with what it loaded, rejects as `start` says. */
async function loadOn(worker: Worker, load: ToThread): Promise<Extract<FromThread, { type: 'loaded' }>> {
  let cleanup = (): void => undefined;
  try {
    return await new Promise<Extract<FromThread, { type: 'loaded' }>>((resolve, reject) => {
      const onMessage = (message: FromThread): void => {
        if (message.type === 'loaded') resolve(message);
        else if (message.type === 'load-failed') reject(threadError(message.kind, message.message));
      };
      const onError = (error: Error): void =>
        reject(new Error(`the inference thread failed while loading: ${error.message}`, { cause: error }));
      const onExit = (code: number): void =>
        reject(new Error(`the inference thread exited (code ${code}) while loading`));
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
      cleanup = () => {
        worker.off('message', onMessage).off('error', onError).off('exit', onExit);
      };
      worker.postMessage(load);
    });
  } finally {
    cleanup();
  }
}

function checkOptions(options: InferenceEngineOptions): void {
  const provider = options.executionProvider ?? 'cpu';
  if (provider !== 'cpu' && provider !== 'cuda') {
    throw new InputError(`executionProvider must be cpu or cuda; got ${String(provider)}`);
  }
  const threads = options.intraOpThreads ?? 0;
  if (!Number.isInteger(threads) || threads < 0) {
    throw new InputError(`intraOpThreads must be a non-negative integer (0: all cores); got ${threads}`);
  }
  const lanes = options.inferenceThreads ?? 1;
  if (!Number.isInteger(lanes) || lanes < 1 || lanes > 64) {
    throw new InputError(`inferenceThreads must be an integer from 1 to 64; got ${lanes}`);
  }
  if (typeof options.bundleDir !== 'string' || options.bundleDir === '') {
    throw new InputError('bundleDir must name an EE bundle directory');
  }
}

export class InferenceEngine {
  private state: EngineState = 'open';
  private failure: Error | undefined;
  private currentConfig: RampConfig;
  private nextBatchId = 0;
  private nextSwapId = 0;
  private readonly runs = new Map<number, PendingRun & { readonly thread: ThreadLink }>();
  private readonly threads: ThreadLink[];
  /** Swaps one after another, so each is checked against the version before it. */
  private swaps: Promise<void> = Promise.resolve();
  private closing: Promise<void> | undefined;
  private onClosed: (() => void) | undefined;

  private constructor(
    workers: readonly Worker[],
    /** What the loaded bundle offers: candidates, classes, warmed batch sizes. */
    readonly bundle: LoadedBundleSummary,
    config: RampConfig,
    /** Whether the sessions allocate from the process's one CPU arena, and if not, why. */
    readonly sharedArena: SharedArenaState,
    /** Whether the threads run their sessions on buffers of their own (direct-session.ts), and if not, why. */
    readonly directRun: DirectRunState,
    /** How the first thread serves the starting config: ramps tapped in one run, or segments. */
    readonly servedBy: ServingMode,
  ) {
    this.currentConfig = deepFreeze(config);
    this.threads = workers.map((worker) => ({ worker, inFlight: 0, replies: new Map(), closed: false }));
    for (const thread of this.threads) {
      const { worker } = thread;
      worker.on('message', (message: FromThread) => this.receive(thread, message));
      worker.on('error', (error) => this.fail(`the inference thread failed: ${error.message}`, error));
      worker.on('messageerror', (error) =>
        this.fail(`a message from the inference thread was unreadable`, error),
      );
      worker.on('exit', (code) => this.fail(`the inference thread exited (code ${code})`));
    }
  }

  /** How many inference threads serve batches side by side. */
  get inferenceThreads(): number {
    return this.threads.length;
  }

  /**
   * Starts the inference thread, loads the bundle there, builds the sessions of `config` and warms
   * every (segment, padded batch size) pair of the bundle's profile, so that no served batch pays
   * a first-run cost. Resolves once the engine can serve; rejects (InputError for a bad config or
   * option, ArtifactError for a bad bundle) with the thread already stopped.
   */
  static async start(options: InferenceEngineOptions): Promise<InferenceEngine> {
    checkOptions(options);
    const load: ToThread = {
      type: 'load',
      bundleDir: options.bundleDir,
      config: options.config,
      executionProvider: options.executionProvider ?? 'cpu',
      intraOpThreads: options.intraOpThreads ?? 0,
      exitTaps: options.exitTaps ?? true,
    };
    // Before the threads start, so that their sessions share this process's arena (shared-arena.ts).
    const arena: SharedArenaState =
      load.executionProvider === 'cpu'
        ? ensureSharedArena()
        : { shared: false, reason: `sessions on ${load.executionProvider} keep their own allocators` };
    // The threads reach the same library the same way; this thread's answer stands for theirs.
    const direct: DirectRunState =
      load.executionProvider === 'cpu'
        ? directRunState()
        : { direct: false, reason: `sessions on ${load.executionProvider} run through onnxruntime-node` };
    const workers: Worker[] = [];
    try {
      // One at a time: loading and warming is CPU-bound, and a bad bundle fails on the first.
      let loaded: Extract<FromThread, { type: 'loaded' }> | undefined;
      for (let i = 0; i < (options.inferenceThreads ?? 1); i++) {
        // The thread needs none of the parent's node flags; an inherited `-r tsx/cjs` would only
        // install the loader twice.
        const worker = new Worker(THREAD_ENTRY, { execArgv: [] });
        workers.push(worker);
        loaded = await loadOn(worker, load);
      }
      if (loaded === undefined) throw new Error('no inference thread was started');
      return new InferenceEngine(workers, loaded.bundle, loaded.config, arena, direct, loaded.servedBy);
    } catch (error) {
      await Promise.all(workers.map((worker) => worker.terminate()));
      throw error;
    }
  }

  /** The config the next submitted batch runs under. */
  get config(): RampConfig {
    return this.currentConfig;
  }

  /**
   * Runs one padded batch whose first `rows` rows are real. `onRamp` is called on the main thread
   * as each active ramp's probabilities arrive, shallow to deep, while the batch still runs; the
   * promise resolves with the final logits once the batch has reached the end of the model.
   * The batch goes to the inference thread with the fewest batches queued; on each thread batches
   * run one at a time in call order.
   *
   * The feeds' buffers are transferred to the inference thread, not copied: after this call the
   * caller's typed arrays are detached (length 0). Copy them first (`data.slice()`) to keep them.
   * Arrays that view only part of a buffer, or share one, are copied instead of transferred.
   *
   * Rejects with an InputError when the feeds do not match the model's inputs (names, dtypes,
   * sizes after the batch, one batch size) or `rows` does not fit; such a batch runs nothing and
   * the engine serves the next one as usual. If `onRamp` throws, later ramps of that batch are not
   * reported and the batch rejects with that error once it has finished.
   *
   * With `thresholds` (the ones the caller will apply, per active ramp), a ramp output that releases
   * no row under the exit rule reaches `onRamp` only when the batch has finished, just before the
   * promise resolves, instead of mid-run (release-gate.ts): every ramp is still reported once, in
   * order, and the rows that exit are the same.
   */
  async run(
    feeds: PlainFeeds,
    rows: number,
    onRamp: (event: RampEvent) => void,
    thresholds?: readonly number[],
  ): Promise<BatchOutcome> {
    this.assertOpen();
    let moved: ReturnType<typeof transferableFeeds>;
    try {
      moved = transferableFeeds(feeds);
    } catch (cause) {
      throw new InputError('feeds must map each input name to { dtype, data: a typed array, dims }', {
        cause,
      });
    }
    const batchId = ++this.nextBatchId;
    const thread = this.threads.reduce((best, next) => (next.inFlight < best.inFlight ? next : best));
    return new Promise<BatchOutcome>((resolve, reject) => {
      this.runs.set(batchId, { onRamp, resolve, reject, thread });
      try {
        thread.worker.postMessage(
          {
            type: 'run',
            batchId,
            feeds: moved.feeds,
            rows,
            ...(thresholds === undefined ? {} : { thresholds }),
          } satisfies ToThread,
          moved.transfer,
        );
        thread.inFlight += 1;
      } catch (cause) {
        this.runs.delete(batchId);
        reject(
          new InputError(`feeds cannot be sent to the inference thread: ${messageOf(cause)}`, { cause }),
        );
      }
    });
  }

  /**
   * Replaces the served config. The config must be newer than the current one (a strictly greater
   * version), name only this bundle's candidates, list them shallow to deep and keep thresholds in
   * [0, 1]; otherwise it is refused with an InputError and the current config keeps serving. A
   * valid config's sessions are built and warmed in the background while batches keep running on
   * the current ones, then it takes over between two batches: every batch submitted while `config`
   * still shows the old version finishes on the old sessions, every later one runs on the new.
   * Resolves once the new config serves and the old sessions are released. Swaps apply in call
   * order, each checked against the version before it. A failed build rejects and changes nothing.
   * A config that keeps the same ramps and changes only thresholds (the controller's usual update)
   * needs no new sessions: thresholds are applied on this thread, so it takes over at once.
   */
  swapConfig(config: RampConfig): Promise<void> {
    const swap = this.swaps.then(() => this.swapNow(config));
    this.swaps = swap.catch(() => undefined);
    return swap;
  }

  /**
   * Stops the engine: no new batches or swaps are accepted, batches already submitted finish
   * (their promises settle), a swap still being built is abandoned (it rejects), every session is
   * released and the thread ends. Safe to call more than once.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async swapNow(config: RampConfig): Promise<void> {
    this.assertOpen();
    const checked = checkRampConfig(config, this.bundle.candidates, this.currentConfig.version);
    if (sameRampSet(checked, this.currentConfig)) {
      // Batches capture the config when submitted, so the next batch simply sees the new one.
      this.currentConfig = deepFreeze(checked);
      return;
    }
    const swapId = ++this.nextSwapId;
    await Promise.all(
      this.threads.map((thread) =>
        this.request(thread, swapId, { type: 'prepare-config', swapId, config: checked }),
      ),
    );
    // The threads discard a prepared config when they close, so only activate while open. Every
    // thread is told in this same turn, before any later batch is posted to any of them.
    this.assertOpen();
    const activated = this.threads.map((thread) =>
      this.request(thread, swapId, { type: 'activate-config', swapId }),
    );
    this.currentConfig = deepFreeze(checked);
    await Promise.all(activated);
  }

  private request(thread: ThreadLink, swapId: number, message: ToThread): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      thread.replies.set(swapId, { resolve, reject });
      thread.worker.postMessage(message);
    });
  }

  private assertOpen(): void {
    if (this.state === 'failed') {
      throw new Error(`the inference engine has failed: ${this.failure?.message ?? 'unknown cause'}`, {
        cause: this.failure,
      });
    }
    if (this.state !== 'open') throw new Error('the inference engine is closed');
  }

  private receive(thread: ThreadLink, message: FromThread): void {
    switch (message.type) {
      case 'ramp': {
        const run = this.runs.get(message.batchId);
        if (run) deliver(run, message, performance.now());
        return;
      }
      case 'final': {
        const run = this.runs.get(message.batchId);
        this.runs.delete(message.batchId);
        if (!run) return;
        run.thread.inFlight -= 1;
        const atMs = performance.now();
        for (const output of message.held) deliver(run, output, atMs);
        if (run.listenerError) {
          run.reject(run.listenerError);
          return;
        }
        run.resolve({ logits: message.logits, timings: message.timings });
        return;
      }
      case 'error': {
        const run = this.runs.get(message.batchId);
        this.runs.delete(message.batchId);
        if (!run) return;
        run.thread.inFlight -= 1;
        run.reject(threadError(message.kind, message.message));
        return;
      }
      case 'config-prepared':
      case 'config-activated': {
        const reply = thread.replies.get(message.swapId);
        thread.replies.delete(message.swapId);
        reply?.resolve();
        return;
      }
      case 'config-failed': {
        const reply = thread.replies.get(message.swapId);
        thread.replies.delete(message.swapId);
        reply?.reject(threadError(message.kind, message.message));
        return;
      }
      case 'closed':
        thread.closed = true;
        if (this.threads.every((each) => each.closed)) this.onClosed?.();
        return;
      case 'loaded':
      case 'load-failed':
        return;
    }
  }

  /** The thread is gone or unusable: every pending call fails with the reason, now. */
  private fail(reason: string, cause?: unknown): void {
    if (this.state === 'closed' || this.state === 'failed') return;
    this.state = 'failed';
    this.failure = new Error(reason, { cause });
    for (const run of this.runs.values()) run.reject(this.failure);
    this.runs.clear();
    for (const thread of this.threads) {
      for (const reply of thread.replies.values()) reply.reject(this.failure);
      thread.replies.clear();
    }
    this.onClosed?.();
  }

  private async shutdown(): Promise<void> {
    if (this.state === 'open') {
      this.state = 'closing';
      const closed = new Promise<void>((resolve) => {
        this.onClosed = resolve;
      });
      for (const thread of this.threads) thread.worker.postMessage({ type: 'close' } satisfies ToThread);
      await closed;
    }
    if (this.state !== 'failed') this.state = 'closed';
    await Promise.all(this.threads.map((thread) => thread.worker.terminate()));
  }
}
