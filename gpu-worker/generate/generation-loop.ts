/**
 * The serving loop for text generation: it owns one ExitDecoder, steps it while any row is held,
 * turns each step into events (tokens for the clients, one step summary for metrics and exit
 * logs), and closes the feedback loop itself: every completed token record enters a window, and
 * every `retuneEveryTokens` records the thresholds are retuned at the constraint (lowered at once
 * by the guard when the window misses it, raised by the tuner otherwise), with the step's measured
 * segment times as the cost model. It starts with thresholds at 0, so the first tokens are the
 * bootstrap: every ramp is observed and nothing exits until the window justifies it.
 *
 * It runs wherever it is created; the worker puts it on a thread of its own (generation-thread.ts)
 * because a session run holds its thread's event loop.
 */
import { ExitDecoder, type GenerationRequest, type TokenRecord } from '../../core/generate/exit-decoder';
import {
  openDecoderModel,
  type DecoderLayout,
  type DecoderModel,
} from '../../core/generate/generative-model';
import { retuneTokenThresholds, stepCosts, TokenWindow } from '../../core/generate/token-feedback';
import { median } from '../../core/util/stats';
import { nextHeadroom, tuningTarget } from '../../core/control/headroom';
import { ServedTally } from '../../core/control/served-history';

export interface GenerationLoopOptions {
  readonly modelDir: string;
  /** 'segments' serves with exits; 'whole' serves the plain model. @default 'segments' */
  readonly layout?: DecoderLayout;
  /** Rows at once; past it submissions are refused (the API answers 429). @default 8 */
  readonly maxRows?: number;
  /** Tokens a row may hold before it must run to the end. @default 8 */
  readonly maxHeldTokens?: number;
  /** Starting thresholds. @default all 0 (bootstrap) */
  readonly thresholds?: readonly number[];
  /** Per-token agreement to keep over the window. @default 0.99 */
  readonly constraint?: number;
  /** Records between two retunes; 0 never retunes. @default 256 */
  readonly retuneEveryTokens?: number;
  /** Records the window keeps. @default 2048 */
  readonly windowTokens?: number;
  /**
   * Tune at the constraint plus this headroom, adapted to the agreement served over the newest
   * 1024 tokens, as the classifiers' controller does (core/control/headroom.ts).
   * @default the whole 1 − constraint
   */
  readonly tuningHeadroom?: number;
}

/** What the loop reports. */
export type GenerationEvent =
  | {
      readonly type: 'token';
      readonly id: string;
      readonly token: number;
      readonly index: number;
      readonly exitRamp: number | null;
      readonly last: boolean;
    }
  | {
      readonly type: 'step';
      /** Step wall time, ms. */
      readonly stepMs: number;
      readonly rows: number;
      readonly segmentRows: readonly number[];
      readonly segmentMs: readonly number[];
      /** Tokens released in this step per ramp, then by the full model (last). */
      readonly exits: readonly number[];
      /** Tokens whose full-model verdict arrived in this step, and how many of them agreed. */
      readonly verdicts: number;
      readonly agreeing: number;
      readonly thresholds: readonly number[];
      /** Retunes so far: the version of the thresholds this step ran with. */
      readonly thresholdsVersion: number;
      readonly windowAgreement: number;
      /** The positions whose full-model verdict arrived in this step: what the exit log keeps. */
      readonly records: readonly TokenRecord[];
    }
  | {
      readonly type: 'retuned';
      readonly thresholds: readonly number[];
      readonly action: 'guard' | 'tune';
      readonly agreement: number;
    }
  | { readonly type: 'failed'; readonly ids: readonly string[]; readonly message: string };

/** The classifiers' controller defaults (core/control/controller.ts), counted in tokens here. */
const SERVED_HORIZON_TOKENS = 1024;
const MIN_SERVED_TOKENS = 64;
const HEADROOM_GAIN = 0.05;

/** Thrown by `submit` when the loop holds its maximum of rows (the API's 429). */
export class CapacityError extends Error {
  override readonly name = 'CapacityError';
}

export class GenerationLoop {
  private readonly decoder: ExitDecoder;
  private readonly window: TokenWindow;
  private readonly listeners: ((event: GenerationEvent) => void)[] = [];
  private readonly segmentHistory: number[][] = [];
  private sinceRetune = 0;
  private retunes = 0;
  private readonly served = new ServedTally(SERVED_HORIZON_TOKENS);
  private headroom: number;
  private pumping: Promise<void> | null = null;
  private closed = false;

  private constructor(
    private readonly model: DecoderModel,
    private readonly options: GenerationLoopOptions,
  ) {
    this.decoder = new ExitDecoder(model, {
      maxRows: options.maxRows ?? 8,
      maxHeldTokens: options.maxHeldTokens ?? 8,
      ...(options.thresholds ? { thresholds: options.thresholds } : {}),
    });
    this.window = new TokenWindow(this.decoder.rampCount, options.windowTokens ?? 2048);
    this.headroom = options.tuningHeadroom ?? 1 - (options.constraint ?? 0.99);
  }

  /** Opens the model's sessions and warms them with one short generation. */
  static async open(options: GenerationLoopOptions): Promise<GenerationLoop> {
    const model = await openDecoderModel(options.modelDir, options.layout ?? 'segments');
    const loop = new GenerationLoop(model, options);
    const warm = new ExitDecoder(model);
    warm.add({ id: 'warm-up', prompt: new TextEncoder().encode('The sea.'), maxTokens: 4 });
    while (warm.activeRows > 0) await warm.step();
    return loop;
  }

  get context(): number {
    return this.decoder.context;
  }

  get rampCount(): number {
    return this.decoder.rampCount;
  }

  get thresholds(): readonly number[] {
    return this.decoder.currentThresholds;
  }

  get activeRows(): number {
    return this.decoder.activeRows;
  }

  on(listener: (event: GenerationEvent) => void): void {
    this.listeners.push(listener);
  }

  /** Admits a request (InputError if it is bad, CapacityError if the loop is full) and starts stepping. */
  submit(request: GenerationRequest): void {
    if (this.closed) throw new CapacityError('the generation loop is shutting down');
    if (!this.decoder.canAdmit())
      throw new CapacityError(`all ${this.decoder.maxRows} rows are busy; retry shortly`);
    this.decoder.add(request);
    this.pumping ??= this.pump().finally(() => {
      this.pumping = null;
    });
  }

  /** Frees a row (its client went away); it leaves before the next step. */
  cancel(id: string): void {
    this.decoder.cancel(id);
  }

  /** Sets thresholds from outside (a controller's config); the loop keeps retuning from them. */
  setThresholds(thresholds: readonly number[]): void {
    this.decoder.setThresholds(thresholds);
  }

  /** Stops admitting, lets held rows finish, releases the sessions. */
  async close(): Promise<void> {
    this.closed = true;
    await this.pumping;
    await this.model.release();
  }

  private emit(event: GenerationEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  private async pump(): Promise<void> {
    while (this.decoder.activeRows > 0) {
      const started = performance.now();
      let result;
      try {
        result = await this.decoder.step();
      } catch (error) {
        // A failed step fails the rows it held, never the loop: later requests are served.
        const ids = this.heldIds();
        for (const id of ids) this.decoder.cancel(id);
        this.emit({ type: 'failed', ids, message: (error as Error).message });
        continue;
      }
      const exits = new Array<number>(this.decoder.rampCount + 1).fill(0);
      for (const token of result.emitted) {
        exits[token.exitRamp ?? this.decoder.rampCount]! += 1;
        this.emit({
          type: 'token',
          id: token.id,
          token: token.token,
          index: token.index,
          exitRamp: token.exitRamp,
          last: token.last,
        });
      }
      this.window.push(result.records);
      const agreeing = result.records.filter(
        (r) => r.exitRamp === null || r.prediction[r.exitRamp] === r.full,
      ).length;
      if (result.records.length > 0) this.served.add(result.records.length, agreeing);
      if (result.segmentRows.every((rows) => rows > 0)) {
        this.segmentHistory.push(result.segmentMs);
        if (this.segmentHistory.length > 256) this.segmentHistory.shift();
      }
      this.emit({
        type: 'step',
        stepMs: performance.now() - started,
        rows: this.decoder.activeRows,
        segmentRows: result.segmentRows,
        segmentMs: result.segmentMs,
        exits,
        verdicts: result.records.length,
        agreeing,
        thresholds: this.decoder.currentThresholds,
        thresholdsVersion: this.retunes,
        windowAgreement: this.window.agreement(),
        records: result.records,
      });
      this.sinceRetune += result.records.length;
      this.maybeRetune();
    }
  }

  private heldIds(): string[] {
    return this.decoder.rowIds();
  }

  private maybeRetune(): void {
    const every = this.options.retuneEveryTokens ?? 256;
    if (every === 0 || this.sinceRetune < every || this.decoder.rampCount === 0) return;
    if (this.segmentHistory.length === 0) return;
    this.sinceRetune = 0;
    const segments = this.decoder.rampCount + 1;
    const segmentMs = Array.from({ length: segments }, (_, s) =>
      Math.max(1e-3, median(this.segmentHistory.map((step) => step[s] as number))),
    );
    const costs = stepCosts(
      segmentMs,
      segmentMs.reduce((a, b) => a + b, 0),
    );
    const constraint = this.options.constraint ?? 0.99;
    const served = this.served.agreement;
    if (served.inputs >= MIN_SERVED_TOKENS)
      this.headroom = nextHeadroom(this.headroom, constraint, served.agreement, HEADROOM_GAIN);
    const result = retuneTokenThresholds(
      this.window,
      this.decoder.currentThresholds,
      costs,
      constraint,
      tuningTarget(constraint, this.headroom),
    );
    if (result.action === 'none') return;
    this.decoder.setThresholds(result.thresholds);
    this.retunes++;
    this.emit({
      type: 'retuned',
      thresholds: result.thresholds,
      action: result.action,
      agreement: result.agreement,
    });
  }
}
