/**
 * The `zoo` report: for each fixture model, what it is and what it measures here, on this machine,
 * with onnxruntime-node over its own serving stream. It is the quickest way for a user to see that
 * the models load, are as accurate as their recipes said, and how fast they run.
 */
import type { TensorSpec } from '../model/model-spec';
import type { LoadedModel } from '../model/load-model';
import { openSession, type SessionOptions } from '../inference/onnx-session';
import { median } from '../util/stats';
import { loadModelData } from './fixtures';
import { accuracyOf, measureStream } from './measure';

export interface ZooEntry {
  readonly name: string;
  readonly task: string;
  readonly classes: readonly string[];
  readonly inputs: readonly TensorSpec[];
  readonly servingSamples: number;
  /** Top-1 accuracy over the whole serving stream, measured now. */
  readonly accuracy: number;
  /** Accuracy the training recipe recorded in model.json, for comparison. */
  readonly recordedAccuracy: number | null;
  /** Median wall time of one batch run, by batch size. */
  readonly latencyMs: { readonly '1': number; readonly '8': number };
}

export interface ZooReportOptions extends SessionOptions {
  /** How many serving samples to time one at a time (the batch-8 pass covers the whole stream). */
  readonly singleSamples?: number;
  readonly onProgress?: (model: string, phase: string, done: number, total: number) => void;
}

/** Measures one fixture model: accuracy and batch-8 latency over the whole stream, batch-1 latency over a prefix. */
export async function measureZooModel(model: LoadedModel, options: ZooReportOptions = {}): Promise<ZooEntry> {
  const split = await loadModelData(model, 'serving');
  const session = await openSession(model.onnxPath, options);
  try {
    const progress = (phase: string) => (done: number, total: number) =>
      options.onProgress?.(model.spec.name, phase, done, total);
    const batched = await measureStream(model.spec, session, split, { batchSize: 8, onBatch: progress('batch 8') });
    const single = await measureStream(model.spec, session, split, {
      batchSize: 1,
      limit: options.singleSamples ?? 200,
      onBatch: progress('batch 1'),
    });
    return {
      name: model.spec.name,
      task: model.spec.task,
      classes: model.spec.classes,
      inputs: model.spec.inputs,
      servingSamples: split.count,
      accuracy: accuracyOf(batched.predictions, split.labels),
      recordedAccuracy: model.spec.servingAccuracy ?? null,
      latencyMs: { '1': median(single.batchMs), '8': median(batched.batchMs) },
    };
  } finally {
    await session.release();
  }
}
