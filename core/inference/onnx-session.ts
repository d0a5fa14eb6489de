/**
 * A thin wrapper over onnxruntime-node's session: it takes and returns plain typed arrays (what
 * crosses threads), names the execution provider explicitly, and fails loudly when a requested
 * provider is not available instead of silently running somewhere slower.
 */
import { readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { binding, initOrt } from 'onnxruntime-node/dist/binding';
import { ArtifactError, InputError } from '../errors';
import type { PlainDtype, PlainFeeds, PlainTensor } from './batch-encoding';
import { directRunState, openDirectSession } from './direct-session';
import { exitTapDomain, exitTapState } from './exit-tap';
import { memoryPatternFor } from './memory-pattern';
import { ensureSharedArena, USE_SHARED_ARENA } from './shared-arena';

export type ExecutionProvider = 'cpu' | 'cuda';

export interface SessionOptions {
  readonly executionProvider?: ExecutionProvider;
  /** Threads for one operator; 0 lets onnxruntime choose (all cores). */
  readonly intraOpThreads?: number;
  /**
   * Records onnxruntime's per-operator profile of every run into a JSON file whose name starts
   * with this path; `endProfiling` writes it and says where. For explaining costs, never serving.
   */
  readonly profileFilePrefix?: string;
  /**
   * Runs on the calling thread through onnxruntime-node's own binding, which `run` blocks for the
   * whole run, instead of through its public API, which first waits a turn of the event loop
   * (`setImmediate`) before every run. That turn costs 0.03–0.15 ms on a thread that has just
   * computed for milliseconds (measured on the 2-vCPU machine: a system call after a busy stretch
   * is slow there), and a model cut in segments pays it once per segment. For threads that do
   * nothing but inference: the worker's inference threads, and profiling, which must time what
   * they run.
   */
  readonly blocking?: boolean;
  /**
   * Allocates from the process's one CPU arena instead of an arena of the session's own, where
   * that arena is available (shared-arena.ts); default true on the CPU provider. Segments of a cut
   * model then run in the same, still cached, memory. False measures what a cut cost without it.
   */
  readonly sharedArena?: boolean;
  /**
   * Runs a blocking CPU session through onnxruntime's C API on buffers of our own, outputs
   * included (direct-session.ts), instead of through onnxruntime-node's binding, which copies
   * every output into a new array. Default true where `blocking` is set and no profile is
   * recorded (a profile is written through the binding), and where the C API can be reached
   * (`directRunState`). False runs through the binding: for measuring what its way costs.
   */
  readonly direct?: boolean;
  /**
   * Lets onnxruntime plan each run's intermediate tensors as one block laid out from the first run
   * (its memory pattern), as it does by default. Unset, it follows `memoryPatternFor`: kept, unless
   * `APPARATE_MEMORY_PATTERN=off` leaves it out of sessions on the shared arena, which makes a cut
   * cheap on some models and every run dearer on others (memory-pattern.ts).
   */
  readonly memoryPattern?: boolean;
  /**
   * Lets the model's nodes use the exit-tap operator (exit-tap.ts), whose kernel runs JavaScript
   * in the middle of a run. Such a session runs directly, on the calling thread (`blocking`); it
   * fails to open where taps are not available (`exitTapState`).
   */
  readonly exitTaps?: boolean;
  /**
   * Writes the graph onnxruntime optimised (after fusions and layout changes) to this file when
   * the session opens, through onnxruntime-node's binding. For reading what onnxruntime made of a
   * model, never serving.
   */
  readonly optimizedModelFile?: string;
}

/** A session output: float32 for logits and activations, other types for side tensors. */
export interface OutputTensor extends PlainTensor {
  readonly data: Float32Array;
}

export interface ModelSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Runs the model; float32 outputs are typed as such, other dtypes come back as plain tensors. */
  run(feeds: PlainFeeds): Promise<Record<string, OutputTensor>>;
  /** Runs the model and returns every output whatever its dtype (side tensors between segments). */
  runAny(feeds: PlainFeeds): Promise<Record<string, PlainTensor>>;
  release(): Promise<void>;
  /** Writes the profile of a session opened with `profileFilePrefix`; returns its path. */
  endProfiling(): Promise<string>;
}

/** Whether this onnxruntime build can use the given execution provider. */
export function providerAvailable(provider: ExecutionProvider): boolean {
  return ort.listSupportedBackends().some((backend) => backend.name === provider);
}

/**
 * What a session is run through: onnxruntime-node's public session, its binding's own, or
 * onnxruntime's C API on our own buffers.
 */
interface Runner {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: PlainFeeds): Promise<Record<string, PlainTensor>> | Record<string, PlainTensor>;
  release(): Promise<void> | void;
  endProfiling(): void;
}

/** Plain tensors as onnxruntime-node's tensors (which wrap the same buffers). */
function toOrt(feeds: PlainFeeds): Record<string, ort.Tensor> {
  const tensors: Record<string, ort.Tensor> = {};
  for (const [name, tensor] of Object.entries(feeds)) {
    tensors[name] = new ort.Tensor(tensor.dtype, tensor.data, tensor.dims);
  }
  return tensors;
}

/** onnxruntime-node's results as plain tensors (over the same buffers). */
function fromOrt(results: Record<string, ort.OnnxValue>): Record<string, PlainTensor> {
  const outputs: Record<string, PlainTensor> = {};
  for (const [name, tensor] of Object.entries(results)) {
    outputs[name] = {
      dtype: tensor.type as PlainDtype,
      data: tensor.data as PlainTensor['data'],
      dims: tensor.dims,
    };
  }
  return outputs;
}

async function openPublic(
  model: string | Uint8Array,
  sessionOptions: ort.InferenceSession.SessionOptions,
): Promise<Runner> {
  const session =
    typeof model === 'string'
      ? await ort.InferenceSession.create(model, sessionOptions)
      : await ort.InferenceSession.create(model, sessionOptions);
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    run: async (feeds) => fromOrt(await session.run(toOrt(feeds))),
    release: () => session.release(),
    endProfiling: () => session.endProfiling(),
  };
}

/**
 * The binding's synchronous session, loaded with the same options the public API passes it
 * (onnxruntime-node is pinned, so its binding's interface is the one its types describe).
 */
function openBlocking(
  model: string | Uint8Array,
  sessionOptions: ort.InferenceSession.SessionOptions,
): Runner {
  initOrt();
  const native = new binding.InferenceSession();
  if (typeof model === 'string') native.loadModel(model, sessionOptions);
  else native.loadModel(model.buffer as ArrayBuffer, model.byteOffset, model.byteLength, sessionOptions);
  const inputNames = native.inputMetadata.map((m) => m.name);
  const outputNames = native.outputMetadata.map((m) => m.name);
  const fetches = Object.fromEntries(outputNames.map((name) => [name, null]));
  return {
    inputNames,
    outputNames,
    run: (feeds) => fromOrt(native.run(toOrt(feeds), fetches, {})),
    release: () => native.dispose(),
    endProfiling: () => native.endProfiling(),
  };
}

/** Nested options as onnxruntime's configuration keys (`session.intra_op.allow_spinning`). */
function dotted(prefix: string, options: object): Record<string, string> {
  const keys: Record<string, string> = {};
  for (const [key, value] of Object.entries(options) as [string, unknown][]) {
    if (typeof value === 'object' && value !== null) Object.assign(keys, dotted(`${prefix}.${key}`, value));
    else keys[`${prefix}.${key}`] = String(value);
  }
  return keys;
}

/** Opens a session over an ONNX file or its bytes. */
export async function openSession(
  model: string | Uint8Array,
  options: SessionOptions = {},
): Promise<ModelSession> {
  const provider = options.executionProvider ?? 'cpu';
  if (!providerAvailable(provider)) {
    const available = ort
      .listSupportedBackends()
      .map((backend) => backend.name)
      .join(', ');
    throw new InputError(
      `execution provider ${provider} is not available in this onnxruntime build; available: ${available}`,
    );
  }
  let session: Runner;
  try {
    const shared = provider === 'cpu' && (options.sharedArena ?? true) && ensureSharedArena().shared;
    const config = {
      // Idle operator threads would otherwise spin after each run; a chain of segment sessions
      // (and the ramps between them) then competes with its own spinning threads for the cores.
      intra_op: { allow_spinning: '0' },
      inter_op: { allow_spinning: '0' },
      ...(shared ? USE_SHARED_ARENA : {}),
    };
    const memoryPattern = options.memoryPattern ?? memoryPatternFor(shared);
    const direct =
      provider === 'cpu' &&
      options.blocking === true &&
      options.profileFilePrefix === undefined &&
      options.optimizedModelFile === undefined &&
      (options.direct ?? true) &&
      directRunState().direct;
    if (options.exitTaps && !direct) {
      const taps = exitTapState();
      throw new Error(
        `a model with exit taps runs only directly, on a CPU session opened with blocking set${taps.available ? '' : ` (${taps.reason})`}`,
      );
    }
    if (direct) {
      const opened = openDirectSession(model, {
        intraOpThreads: options.intraOpThreads ?? 0,
        config: dotted('session', config),
        memoryPattern,
        ...(options.exitTaps ? { customOpDomains: [exitTapDomain()] } : {}),
      });
      session = { ...opened, run: (feeds) => opened.runAny(feeds), endProfiling: () => undefined };
    } else {
      const sessionOptions: ort.InferenceSession.SessionOptions = {
        executionProviders: [provider],
        intraOpNumThreads: options.intraOpThreads ?? 0,
        graphOptimizationLevel: 'all',
        enableMemPattern: memoryPattern,
        extra: { session: config },
        ...(options.profileFilePrefix !== undefined
          ? { enableProfiling: true, profileFilePrefix: options.profileFilePrefix }
          : {}),
        // onnxruntime warns that such a file holds optimisations for this machine only, which is
        // all it is read for: errors only.
        ...(options.optimizedModelFile !== undefined
          ? { optimizedModelFilePath: options.optimizedModelFile, logSeverityLevel: 3 as const }
          : {}),
      };
      session = options.blocking
        ? openBlocking(model, sessionOptions)
        : await openPublic(model, sessionOptions);
    }
  } catch (cause) {
    const where = typeof model === 'string' ? model : 'in-memory model';
    throw new ArtifactError(`onnxruntime cannot load ${where}: ${(cause as Error).message}`, { cause });
  }
  const runAny = async (feeds: PlainFeeds): Promise<Record<string, PlainTensor>> => session.run(feeds);
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(feeds) {
      const results = await runAny(feeds);
      const outputs: Record<string, OutputTensor> = {};
      for (const [name, tensor] of Object.entries(results)) {
        if (!(tensor.data instanceof Float32Array)) {
          throw new ArtifactError(
            `output ${name} is ${tensor.dtype}; this call expects float32 outputs only`,
          );
        }
        outputs[name] = { dtype: 'float32', data: tensor.data, dims: tensor.dims };
      }
      return outputs;
    },
    runAny,
    release: async () => {
      await session.release();
    },
    async endProfiling() {
      const prefix = options.profileFilePrefix;
      if (prefix === undefined) throw new InputError('this session was opened without profileFilePrefix');
      session.endProfiling();
      // onnxruntime-node does not return the file's name: it is the prefix and a timestamp.
      const folder = dirname(prefix);
      const written = (await readdir(folder))
        .filter((name) => name.startsWith(basename(prefix)) && name.endsWith('.json'))
        .sort();
      const last = written.at(-1);
      if (last === undefined) throw new ArtifactError(`onnxruntime wrote no profile next to ${prefix}`);
      return join(folder, last);
    },
  };
}
