/**
 * Measuring a model over a serving stream with onnxruntime-node: its predictions (for accuracy),
 * and the wall time of each batch (for latency). The zoo command, the fixture tests and later the
 * profiler all build on this one loop so their numbers are comparable.
 */
import { performance } from 'node:perf_hooks';
import { sampleAt, type DataSplit } from '../data/dataset';
import { createBatchEncoder } from '../inference/batch-encoding';
import type { ModelSession } from '../inference/onnx-session';
import type { ModelSpec } from '../model/model-spec';
import { argmax } from '../util/stats';

export interface StreamMeasurement {
  /** Predicted class per measured sample, in stream order. */
  readonly predictions: Uint16Array;
  /** Wall time of each batch run, in milliseconds, warm-up excluded. */
  readonly batchMs: number[];
}

export interface StreamOptions {
  readonly batchSize: number;
  /** Measure only the first `limit` samples of the stream. */
  readonly limit?: number;
  /** Untimed runs of the first batch before timing starts. */
  readonly warmupRuns?: number;
  readonly onBatch?: (done: number, total: number) => void;
}

/** Runs the stream through the session in batches (the last one padded) and times each run. */
export async function measureStream(
  model: ModelSpec,
  session: ModelSession,
  split: DataSplit,
  options: StreamOptions,
): Promise<StreamMeasurement> {
  const encoder = createBatchEncoder(model);
  const total = Math.min(split.count, options.limit ?? split.count);
  const classes = model.classes.length;
  const outputName = model.outputs[0]?.name ?? session.outputNames[0] ?? 'logits';
  const predictions = new Uint16Array(total);
  const batchMs: number[] = [];
  const batchAt = (start: number) => {
    const samples = [];
    for (let i = start; i < Math.min(total, start + options.batchSize); i++) samples.push(sampleAt(split, i));
    return { samples, feeds: encoder.encode(samples, options.batchSize) };
  };
  for (let i = 0; i < (options.warmupRuns ?? 3); i++) await session.run(batchAt(0).feeds);
  for (let start = 0; start < total; start += options.batchSize) {
    const { samples, feeds } = batchAt(start);
    const began = performance.now();
    const outputs = await session.run(feeds);
    batchMs.push(performance.now() - began);
    const logits = outputs[outputName];
    if (!logits) throw new Error(`session returned no output named ${outputName}`);
    samples.forEach((_, row) => {
      predictions[start + row] = argmax(logits.data, row * classes, classes);
    });
    options.onBatch?.(start + samples.length, total);
  }
  return { predictions, batchMs };
}

/** Fraction of predictions equal to the labels. */
export function accuracyOf(predictions: ArrayLike<number>, labels: ArrayLike<number>): number {
  let correct = 0;
  for (let i = 0; i < predictions.length; i++) if (predictions[i] === labels[i]) correct++;
  return predictions.length === 0 ? Number.NaN : correct / predictions.length;
}
