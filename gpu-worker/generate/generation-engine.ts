/**
 * The main thread's handle on the generation thread. It admits requests synchronously (bad input
 * and a full worker are answered before a stream starts, so the API can return 4xx/429), routes
 * each row's tokens to its stream, and passes step summaries to whoever keeps metrics.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ensureSharedArena } from '../../core/inference/shared-arena';
import { InputError } from '../../core/errors';
import type { GenerationRequest } from '../../core/generate/exit-decoder';
import { CapacityError, type GenerationEvent, type GenerationLoopOptions } from './generation-loop';
import type { FromGenerationThread, ToGenerationThread } from './protocol';

const THREAD_ENTRY = join(__dirname, 'generation-thread.js');

/** What a stream's consumer hears. */
export interface StreamListener {
  onToken(token: { token: number; index: number; exitRamp: number | null; last: boolean }): void;
  onError(message: string): void;
}

export interface GenerationStream {
  readonly id: string;
  /** Frees the row; no more tokens are delivered. */
  cancel(): void;
}

export class GenerationEngine {
  private readonly streams = new Map<string, StreamListener>();
  private readonly stepListeners: ((event: GenerationEvent) => void)[] = [];
  private nextId = 0;
  private closing: Promise<void> | null = null;

  private constructor(
    private readonly worker: Worker,
    readonly context: number,
    readonly rampCount: number,
    readonly maxRows: number,
  ) {
    worker.on('message', (message: FromGenerationThread) => this.onMessage(message));
    worker.on('error', (error) => this.failAll(`the generation thread failed: ${error.message}`));
  }

  /** Starts the thread and opens (and warms) the model there. */
  static async start(options: GenerationLoopOptions): Promise<GenerationEngine> {
    // Before the thread starts, so that its sessions share this process's arena (shared-arena.ts).
    ensureSharedArena();
    const worker = new Worker(THREAD_ENTRY, { execArgv: [] });
    const opened = await new Promise<Extract<FromGenerationThread, { type: 'opened' }>>((resolve, reject) => {
      worker.once('error', reject);
      worker.on('message', function onOpen(message: FromGenerationThread) {
        if (message.type === 'opened') {
          worker.off('message', onOpen);
          resolve(message);
        } else if (message.type === 'open-failed') {
          worker.off('message', onOpen);
          reject(new Error(`cannot open the generative model: ${message.message}`));
        }
      });
      worker.postMessage({ type: 'open', options } satisfies ToGenerationThread);
    }).catch(async (error: unknown) => {
      await worker.terminate();
      throw error;
    });
    worker.removeAllListeners('error');
    return new GenerationEngine(worker, opened.context, opened.rampCount, opened.maxRows);
  }

  /** Rows streaming now. */
  get activeStreams(): number {
    return this.streams.size;
  }

  /** Listens to every loop event (steps, retunes): what metrics and exit logs are made from. */
  onEvent(listener: (event: GenerationEvent) => void): void {
    this.stepListeners.push(listener);
  }

  /**
   * Starts generating. Throws InputError for a request the model cannot take and CapacityError
   * when every row is busy; both before anything is streamed.
   */
  generate(request: Omit<GenerationRequest, 'id'>, listener: StreamListener): GenerationStream {
    if (this.closing) throw new CapacityError('the generation engine is shutting down');
    if (request.prompt.length < 1)
      throw new InputError('prompt is empty; give at least one character of text');
    if (request.prompt.length + request.maxTokens > this.context)
      throw new InputError(
        `prompt (${request.prompt.length} bytes) plus maxTokens (${request.maxTokens}) exceeds the model's context of ${this.context} tokens`,
      );
    if (this.streams.size >= this.maxRows)
      throw new CapacityError(`all ${this.maxRows} generation rows are busy; retry shortly`);
    const id = `g${this.nextId++}`;
    this.streams.set(id, listener);
    this.post({ type: 'submit', request: { ...request, id } });
    return {
      id,
      cancel: () => {
        if (this.streams.delete(id)) this.post({ type: 'cancel', id });
      },
    };
  }

  /** Lets streaming rows finish, then stops the thread. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.worker.once('exit', () => resolve());
      this.post({ type: 'close' });
    });
    return this.closing;
  }

  private post(message: ToGenerationThread): void {
    this.worker.postMessage(message);
  }

  private onMessage(message: FromGenerationThread): void {
    if (message.type === 'refused') {
      const listener = this.streams.get(message.id);
      this.streams.delete(message.id);
      listener?.onError(message.message);
      return;
    }
    if (message.type !== 'event') return;
    const event = message.event;
    if (event.type === 'token') {
      const listener = this.streams.get(event.id);
      if (!listener) return;
      if (event.last) this.streams.delete(event.id);
      listener.onToken(event);
      return;
    }
    if (event.type === 'failed') {
      for (const id of event.ids) {
        const listener = this.streams.get(id);
        this.streams.delete(id);
        listener?.onError(event.message);
      }
    }
    for (const listener of this.stepListeners) listener(event);
  }

  private failAll(message: string): void {
    for (const [id, listener] of this.streams) {
      this.streams.delete(id);
      listener.onError(message);
    }
  }
}
