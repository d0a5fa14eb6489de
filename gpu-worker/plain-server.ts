/**
 * Serving the plain model, with no ramps and no bundle: what bootstrap mode does until ramps are
 * trained. It receives up to one batch, answers bad requests and requests past their deadline as
 * the full worker does, runs the batch on one session over the original ONNX file, stores each
 * final answer, acknowledges, and reports every served input with the model's own answer (the
 * ramps' training label) to `onServed`.
 *
 * It is deliberately simple: one batch at a time, on the main thread (onnxruntime blocks the
 * event loop for each run, which is short next to the visibility timeout), no early release, no
 * exit log. `stop` stops receiving, lets the batch in flight finish and be acknowledged, and closes
 * the session; messages received and not yet served go back to the queue for whoever serves next.
 */
import { performance } from 'node:perf_hooks';
import type { ReceivedMessage, RequestQueue } from '../adapters/queue';
import { createBatchEncoder, type RawSample } from '../core/inference/batch-encoding';
import { createInputValidator } from '../core/inference/input-validation';
import { openSession, type ModelSession, type SessionOptions } from '../core/inference/onnx-session';
import type { LoadedModel } from '../core/model/load-model';
import { clampUnit, topClass } from '../core/util/stats';
import { messageOf, type Logger } from './logger';
import type { WorkerMetrics } from './metrics';
import type { ResultSink } from '../core/serving/result-sink';
import { answerError, settleStored } from './settle';

/** The config version plain answers carry: the plain model serves before any config exists. */
export const PLAIN_CONFIG_VERSION = 0;

export interface PlainServerOptions extends SessionOptions {
  readonly model: LoadedModel;
  readonly queue: RequestQueue;
  readonly sink: ResultSink;
  readonly logger: Logger;
  readonly metrics: WorkerMetrics;
  /** The model id requests must name. @default the model's name */
  readonly modelId?: string;
  /** Most requests per batch. @default 32 */
  readonly maxBatch?: number;
  /** Longest a receive waits for the first message. @default 200 */
  readonly receiveWaitMs?: number;
  /** Each served input with the plain model's answer (class index), in serving order. */
  readonly onServed?: (sample: RawSample, classIndex: number) => void;
}

/** Serves the plain model from a queue until stopped (bootstrap mode's first phase). */
export class PlainServer {
  /** Settles once stopped; rejects when the session failed. */
  readonly done: Promise<void>;
  served = 0;
  private stopping = false;
  private readonly validate: ReturnType<typeof createInputValidator>;
  private readonly encoder: ReturnType<typeof createBatchEncoder>;
  private readonly modelId: string;

  private constructor(
    private readonly options: PlainServerOptions,
    private readonly session: ModelSession,
  ) {
    this.validate = createInputValidator(options.model.spec);
    this.encoder = createBatchEncoder(options.model.spec);
    this.modelId = options.modelId ?? options.model.spec.name;
    this.done = this.run();
  }

  /** Opens the plain model's session and starts serving. */
  static async start(options: PlainServerOptions): Promise<PlainServer> {
    const session = await openSession(options.model.onnxPath, options);
    return new PlainServer(options, session);
  }

  /** Stops receiving; resolves once the batch in flight is acknowledged and the session closed. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.done.catch(() => undefined);
  }

  private async run(): Promise<void> {
    const { queue, logger } = this.options;
    try {
      while (!this.stopping) {
        let messages: ReceivedMessage[];
        try {
          messages = await queue.receive(this.options.maxBatch ?? 32, this.options.receiveWaitMs ?? 200);
        } catch (error) {
          if (this.stopping) break;
          logger.log('warn', 'receive failed', { error: messageOf(error) });
          await new Promise((done) => setTimeout(done, 200));
          continue;
        }
        if (messages.length > 0) await this.serve(messages);
      }
    } finally {
      await this.session.release();
    }
  }

  private async serve(messages: ReceivedMessage[]): Promise<void> {
    const { sink, metrics } = this.options;
    const startedAtMs = Date.now();
    const accepted: { message: ReceivedMessage; sample: RawSample }[] = [];
    const refusals: Promise<boolean>[] = [];
    for (const message of messages) {
      const { request } = message;
      const problem =
        request.model !== this.modelId
          ? { code: 'unknown_model', text: `this worker serves model ${this.modelId}, not ${request.model}` }
          : request.deadlineAtMs < startedAtMs
            ? { code: 'deadline_exceeded', text: "the request's deadline has passed; it was not served" }
            : undefined;
      const validated = problem === undefined ? this.validate(request.input) : undefined;
      if (problem !== undefined || validated?.ok === false) {
        const code = problem?.code ?? 'invalid_input';
        const text = problem?.text ?? (validated?.ok === false ? validated.problem.message : '');
        metrics.requests.inc({ outcome: code });
        refusals.push(answerError(this.options, message, code, text));
        continue;
      }
      if (validated?.ok) accepted.push({ message, sample: validated.sample });
    }
    if (accepted.length > 0) {
      const feeds = this.encoder.encode(accepted.map((entry) => entry.sample));
      const outputs = await this.session.run(feeds);
      const logits = outputs[this.session.outputNames[0] as string]?.data;
      if (logits === undefined) throw new Error('the plain model returned no output');
      const finishedAtMs = performance.timeOrigin + performance.now();
      const classes = this.options.model.spec.classes;
      const width = classes.length;
      metrics.batchSize.observe(accepted.length);
      const writes = accepted.map(({ message, sample }, row) => {
        const { request } = message;
        const best = topClass(logits, row * width, width);
        const latencyMs = Math.max(0, finishedAtMs - request.enqueuedAtMs);
        metrics.requests.inc({ outcome: 'served' });
        metrics.exits.inc({ exit: 'final' });
        metrics.queueWaitMs.observe(Math.max(0, startedAtMs - request.enqueuedAtMs));
        metrics.finalLatencyMs.observe(latencyMs);
        metrics.period.observe(latencyMs, latencyMs);
        this.served += 1;
        this.options.onServed?.(sample, best.index);
        return settleStored(
          this.options,
          message,
          sink.final(request.requestId, {
            model: this.modelId,
            label: classes[best.index] ?? String(best.index),
            classIndex: best.index,
            confidence: clampUnit(best.confidence),
            latencyMs,
            configVersion: PLAIN_CONFIG_VERSION,
            releasedAtMs: finishedAtMs,
          }),
          'store failed',
        );
      });
      await Promise.all(writes);
    }
    await Promise.all(refusals);
  }
}
