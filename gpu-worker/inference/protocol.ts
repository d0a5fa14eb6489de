/**
 * The messages between the main thread and the inference thread, and the one rule for moving
 * tensors between them: their buffers are transferred, never copied by structured clone. A batch
 * of 32 images is 100 KB and a text batch a few times that; copying each of them twice per batch
 * would be worker overhead for nothing, while a transfer only hands over ownership of the memory.
 */
import type { RampConfig } from '../../core/control/ramp-config';
import type { ExecutionProvider } from '../../core/inference/onnx-session';
import type { PlainFeeds, PlainTensor } from '../../core/inference/batch-encoding';

/**
 * Which of the project's error classes an error posted across the thread boundary was, so the
 * engine can re-raise it with the same class (callers tell user mistakes from ours by class).
 */
export type ErrorKind = 'input' | 'artifact' | 'internal';

/** A candidate as the engine needs it to validate configs: its id and its place in the model. */
export interface CandidateSummary {
  readonly id: string;
  readonly position: number;
}

/** What the thread reports about the bundle it loaded. */
export interface LoadedBundleSummary {
  readonly modelName: string;
  /** Candidates, shallow to deep. */
  readonly candidates: readonly CandidateSummary[];
  readonly classes: readonly string[];
  /** The padded batch sizes every segment was warmed at. */
  readonly batchSizes: readonly number[];
}

/** Main thread to inference thread. */
export type ToThread =
  | {
      readonly type: 'load';
      readonly bundleDir: string;
      readonly config: RampConfig;
      readonly executionProvider: ExecutionProvider;
      readonly intraOpThreads: number;
      readonly exitTaps: boolean;
    }
  | {
      readonly type: 'run';
      readonly batchId: number;
      readonly feeds: PlainFeeds;
      readonly rows: number;
      /**
       * The thresholds the main thread will apply to this batch, per active ramp: ramp outputs that
       * release no row then wait for the final message (release-gate.ts). Absent: all go at once.
       */
      readonly thresholds?: readonly number[];
    }
  | { readonly type: 'prepare-config'; readonly swapId: number; readonly config: RampConfig }
  | { readonly type: 'activate-config'; readonly swapId: number }
  | { readonly type: 'close' };

/** One active ramp's output for a batch. */
export interface RampOutput {
  /** Position of the ramp in the config (0 = shallowest active ramp). */
  readonly rampIndex: number;
  readonly candidateId: string;
  /** Class probabilities of the real rows, row-major [rows, classes]. */
  readonly probs: Float32Array;
}

/** Inference thread to main thread. */
export type FromThread =
  | {
      readonly type: 'loaded';
      readonly bundle: LoadedBundleSummary;
      readonly config: RampConfig;
      readonly servedBy: ServingMode;
    }
  | { readonly type: 'load-failed'; readonly kind: ErrorKind; readonly message: string }
  | ({ readonly type: 'ramp'; readonly batchId: number } & RampOutput)
  | {
      readonly type: 'final';
      readonly batchId: number;
      /** Model output of the real rows, row-major [rows, classes]. */
      readonly logits: Float32Array;
      /** The ramp outputs held back because they released no row, shallow to deep. */
      readonly held: readonly RampOutput[];
      readonly timings: BatchTimings;
    }
  | { readonly type: 'error'; readonly batchId: number; readonly kind: ErrorKind; readonly message: string }
  | { readonly type: 'config-prepared'; readonly swapId: number }
  | {
      readonly type: 'config-failed';
      readonly swapId: number;
      readonly kind: ErrorKind;
      readonly message: string;
    }
  | { readonly type: 'config-activated'; readonly swapId: number }
  | { readonly type: 'closed' };

/**
 * How a config is served: the whole model in one session with its ramps tapped (exit-tap.ts), or
 * the model cut at its ramps, one session per segment, where taps are not available or fired too
 * late in the run (`reason` says which).
 */
export type ServingMode = { readonly kind: 'taps' } | { readonly kind: 'segments'; readonly reason?: string };

/** Where a batch's time went on the inference thread. */
export interface BatchTimings {
  /** Wall time of each segment's run (its ramp included), shallow to deep. */
  readonly segmentMs: number[];
  /** Wall time on the thread from receiving the batch to posting its final answer. */
  readonly totalMs: number;
  /**
   * Ramp outputs posted while the batch ran (release-gate.ts); the rest came with the final
   * logits. Every output, without thresholds.
   */
  readonly rampsPostedMidRun: number;
  /** How the config was served: the whole model with its ramps tapped, or cut in segments. */
  readonly servedBy: 'taps' | 'segments';
}

/**
 * The buffers to transfer for these feeds. A typed array that views only part of its buffer (a
 * subarray, a pooled Node Buffer) or a buffer another feed also uses cannot be handed over whole
 * without detaching or leaking memory that is not the tensor's, so such feeds are replaced by
 * exact copies first; everything else moves without a copy.
 */
export function transferableFeeds(feeds: PlainFeeds): { feeds: PlainFeeds; transfer: ArrayBuffer[] } {
  const out: PlainFeeds = {};
  const transfer: ArrayBuffer[] = [];
  const seen = new Set<ArrayBufferLike>();
  for (const [name, tensor] of Object.entries(feeds)) {
    const { buffer, byteOffset, byteLength } = tensor.data;
    const whole =
      buffer instanceof ArrayBuffer &&
      byteOffset === 0 &&
      byteLength === buffer.byteLength &&
      !seen.has(buffer);
    const data = whole ? tensor.data : (tensor.data.slice() as PlainTensor['data']);
    seen.add(data.buffer);
    transfer.push(data.buffer as ArrayBuffer);
    out[name] = { dtype: tensor.dtype, data, dims: [...tensor.dims] };
  }
  return { feeds: out, transfer };
}

/** The project error class an error belongs to, for posting it across the thread boundary. */
export function errorKind(error: unknown): ErrorKind {
  const name = error instanceof Error ? error.name : '';
  if (name === 'InputError') return 'input';
  if (name === 'ArtifactError') return 'artifact';
  return 'internal';
}
