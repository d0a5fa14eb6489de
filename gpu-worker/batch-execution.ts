/**
 * Serving one batch: encode it, run it on the inference engine, and, as each ramp's outputs come
 * back while the batch is still running, apply the exit rule and release those inputs' answers at
 * once. When the batch reaches the end, every input's final answer is known, and with it whether
 * each early answer agreed; that evidence goes to the exit log and the local guard.
 *
 * The returned promise settles when the batch has run and every answer has been handed to the
 * sink; the report's `stored` settles later, when the sink has stored each answer (or failed to),
 * so the caller can start the next batch at once and still acknowledge exactly the requests whose
 * answers are safe.
 */
import { performance } from 'node:perf_hooks';
import { FINAL_EXIT, type ExitLogItem } from '../core/serving/exit-log-item';
import type { RampConfig } from '../core/control/ramp-config';
import { exitsAt } from '../core/control/exit-rule';
import type { BatchEncoder } from '../core/inference/batch-encoding';
import { argmax, clampUnit, topClass } from '../core/util/stats';
import type { HeldRequest } from './batcher';
import type { InferenceEngine } from './inference/inference-engine';
import type { ResultSink } from '../core/serving/result-sink';

export interface BatchContext {
  readonly engine: InferenceEngine;
  readonly encoder: BatchEncoder;
  readonly sink: ResultSink;
  /** The model id answers and logs carry. */
  readonly model: string;
  readonly classes: readonly string[];
  /** Adds to `performance.now()` to give epoch ms with sub-millisecond resolution. */
  readonly epochOffsetMs: number;
  /** The thresholds to apply under a config (the local guard may have lowered them). */
  readonly thresholdsFor: (config: RampConfig) => readonly number[];
}

/** What one batch did, for acknowledging, logging, metrics and the local guard. */
export interface BatchReport {
  readonly config: RampConfig;
  readonly requests: readonly HeldRequest[];
  readonly paddedSize: number;
  /**
   * Settles once the sink has stored or refused every answer: whether each request's answers were
   * all stored (ack) or not (hand back for a retry). Never rejects.
   */
  readonly stored: Promise<readonly boolean[]>;
  /** Per active ramp, each request's confidence and agreement with the final answer. */
  readonly confidence: Float32Array[];
  readonly agrees: Uint8Array[];
  /** The ramp index each request exited at, or -1. */
  readonly exitIndex: Int16Array;
  /** Epoch ms of the early release (NaN when none) and of the final answer, per request. */
  readonly earlyAtMs: Float64Array;
  readonly finalAtMs: Float64Array;
  /** Epoch ms when the batch started (before encoding). */
  readonly startedAtMs: number;
  /** Wall time from the start to every answer handed to the sink, and the engine thread's share of it. */
  readonly wallMs: number;
  readonly engineMs: number;
  /** Ramp outputs that reached the main thread mid-run, because they released an answer. */
  readonly rampsPostedMidRun: number;
  /** The batch's exit-log item. */
  readonly logItem: ExitLogItem;
}

/**
 * Runs one batch of validated requests. Rejects only when the engine refuses or fails the batch
 * (nothing was answered then, except early answers already released, which are idempotent).
 */
export async function executeBatch(
  context: BatchContext,
  requests: readonly HeldRequest[],
  paddedSize: number,
  batchId: string,
): Promise<BatchReport> {
  const { engine, sink, model, classes, epochOffsetMs } = context;
  const began = performance.now();
  const startedAtMs = began + epochOffsetMs;
  const rows = requests.length;
  const width = classes.length;
  const config = engine.config;
  const thresholds = context.thresholdsFor(config);
  const ramps = config.ramps.length;
  const confidence = Array.from({ length: ramps }, () => new Float32Array(rows));
  const predictions = Array.from({ length: ramps }, () => new Int32Array(rows));
  const exitIndex = new Int16Array(rows).fill(-1);
  const earlyAtMs = new Float64Array(rows).fill(Number.NaN);
  const finalAtMs = new Float64Array(rows);
  const writes: Promise<unknown>[][] = Array.from({ length: rows }, () => []);

  const feeds = context.encoder.encode(
    requests.map((request) => request.sample),
    paddedSize,
  );
  const outcome = await engine.run(
    feeds,
    rows,
    (event) => {
      const r = event.rampIndex;
      const threshold = thresholds[r] ?? 0;
      const column = confidence[r] as Float32Array;
      const predicted = predictions[r] as Int32Array;
      const atMs = event.atMs + epochOffsetMs;
      for (let i = 0; i < rows; i++) {
        const index = argmax(event.probs, i * width, width);
        const probability = event.probs[i * width + index] as number;
        column[i] = clampUnit(probability);
        predicted[i] = index;
        if (exitIndex[i] !== -1 || !exitsAt(probability, threshold)) continue;
        exitIndex[i] = r;
        earlyAtMs[i] = atMs;
        const request = (requests[i] as HeldRequest).message.request;
        (writes[i] as Promise<unknown>[]).push(
          sink.early(request.requestId, {
            model,
            label: classes[index] ?? String(index),
            classIndex: index,
            confidence: clampUnit(probability),
            exit: event.candidateId,
            latencyMs: Math.max(0, atMs - request.enqueuedAtMs),
            configVersion: config.version,
            releasedAtMs: atMs,
          }),
        );
      }
    },
    thresholds,
  );

  const finalMs = performance.now() + epochOffsetMs;
  const agrees = Array.from({ length: ramps }, () => new Uint8Array(rows));
  const finalPredictions = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const best = topClass(outcome.logits, i * width, width);
    finalPredictions[i] = best.index;
    finalAtMs[i] = finalMs;
    for (let r = 0; r < ramps; r++) {
      (agrees[r] as Uint8Array)[i] = (predictions[r] as Int32Array)[i] === best.index ? 1 : 0;
    }
    const exit = exitIndex[i] as number;
    const request = (requests[i] as HeldRequest).message.request;
    (writes[i] as Promise<unknown>[]).push(
      sink.final(request.requestId, {
        model,
        label: classes[best.index] ?? String(best.index),
        classIndex: best.index,
        confidence: clampUnit(best.confidence),
        latencyMs: Math.max(0, finalMs - request.enqueuedAtMs),
        ...(exit < 0 ? {} : { agreesWithEarly: (predictions[exit] as Int32Array)[i] === best.index }),
        configVersion: config.version,
        releasedAtMs: finalMs,
      }),
    );
  }
  const stored = Promise.all(
    writes.map((rowWrites) =>
      Promise.allSettled(rowWrites).then((results) =>
        results.every((result) => result.status === 'fulfilled'),
      ),
    ),
  );

  const logItem: ExitLogItem = {
    model,
    batchId,
    startedAtMs: Math.floor(startedAtMs),
    configVersion: config.version,
    batchSize: rows,
    paddedSize,
    requests: requests.map((held, i) => {
      const request = held.message.request;
      const exit = exitIndex[i] as number;
      const finalLatency = Math.max(0, finalMs - request.enqueuedAtMs);
      return {
        requestId: request.requestId,
        exit: exit < 0 ? FINAL_EXIT : (config.ramps[exit]?.id ?? FINAL_EXIT),
        releasedMs: exit < 0 ? finalLatency : Math.max(0, (earlyAtMs[i] as number) - request.enqueuedAtMs),
        finalMs: finalLatency,
        ramps: config.ramps.map((ramp, r) => ({
          id: ramp.id,
          confidence: (confidence[r] as Float32Array)[i] as number,
          prediction: (predictions[r] as Int32Array)[i] as number,
        })),
        finalPrediction: finalPredictions[i] as number,
      };
    }),
  };
  return {
    config,
    requests,
    paddedSize,
    stored,
    confidence,
    agrees,
    exitIndex,
    earlyAtMs,
    finalAtMs,
    startedAtMs,
    wallMs: performance.now() - began,
    engineMs: outcome.timings.totalMs,
    rampsPostedMidRun: outcome.timings.rampsPostedMidRun,
    logItem,
  };
}
