/**
 * Exit logs for generation: one item per decoding step that completed any positions, in the same
 * table and key design as the classifiers' batches (partition `<model>#<minute>#<shard>`), marked
 * `kind: 'generate'`. Each of its requests is one token position, with every
 * ramp's confidence and top token and the full model's token, known once the position reached the
 * model's head (at once, or at its deferred fill). Request ids are `<worker>-<start>-<row>#<position>`.
 * That is the per-token agreement record the loop
 * tunes on, so `apparate logs --model moby-gpt` and the controller's readers see what the tuner saw.
 */
import { FINAL_EXIT, type ExitLogItem } from '../../adapters/dynamo';
import type { TokenRecord } from '../../core/generate/exit-decoder';
import type { GenerationEvent } from './generation-loop';

/** The ramp ids of a generative model in logs and metrics: ramp0 is the shallowest. */
export const tokenRampId = (ramp: number): string => `ramp${ramp}`;

type StepEvent = Extract<GenerationEvent, { type: 'step' }>;

/** The exit-log item of one step, or undefined when no position completed in it. */
export function generationLogItem(
  model: string,
  step: StepEvent,
  batchId: string,
  startedAtMs: number,
  rowPrefix = '',
): ExitLogItem | undefined {
  const records = step.records;
  if (records.length === 0) return undefined;
  return {
    model,
    kind: 'generate',
    batchId,
    startedAtMs: Math.max(0, Math.round(startedAtMs)),
    configVersion: step.thresholdsVersion,
    batchSize: records.length,
    // The rows the step ran: at least as many as the positions it completed, except when one row's
    // fill completes several held positions at once.
    paddedSize: Math.max(records.length, step.segmentRows[0] ?? 0),
    requests: records.map((record, k) => tokenRequest(record, rowPrefix, `${batchId}#${k}`)),
  };
}

function tokenRequest(
  record: TokenRecord,
  rowPrefix: string,
  fallbackId: string,
): ExitLogItem['requests'][number] {
  const finalMs = record.finalMs ?? 0;
  return {
    requestId:
      record.rowId !== undefined && record.position !== undefined
        ? `${rowPrefix}${record.rowId}#${record.position}`
        : fallbackId,
    exit: record.exitRamp === null ? FINAL_EXIT : tokenRampId(record.exitRamp),
    releasedMs: Math.min(record.releasedMs ?? finalMs, finalMs),
    finalMs,
    ramps: record.confidence.map((confidence, r) => ({
      id: tokenRampId(r),
      confidence: Math.min(1, Math.max(0, confidence)),
      prediction: record.prediction[r] as number,
    })),
    finalPrediction: record.full,
  };
}

/**
 * Records every step of `engine`-like event sources to an exit-log writer. Batch ids are the
 * worker's id, the model and a sequence number, unique across workers and restarts of one.
 */
export function recordGenerationLogs(options: {
  readonly model: string;
  readonly workerId: string;
  readonly writer: { record(item: ExitLogItem): void };
  readonly now?: () => number;
}): (event: GenerationEvent) => void {
  const now = options.now ?? Date.now;
  const started = now().toString(36);
  let sequence = 0;
  return (event) => {
    if (event.type !== 'step') return;
    // Row ids restart with the process; the worker id and start time keep request ids unique.
    const prefix = `${options.workerId}-${started}-`;
    const batchId = `${prefix}${sequence}`;
    const item = generationLogItem(options.model, event, batchId, now() - event.stepMs, prefix);
    if (item === undefined) return;
    sequence++;
    options.writer.record(item);
  };
}
