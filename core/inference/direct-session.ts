/**
 * A CPU session run through onnxruntime's C API on buffers this process owns, outputs included.
 *
 * onnxruntime-node's binding wraps each input's JavaScript buffer without a copy, but lets
 * onnxruntime allocate every output and then copies it into a new JavaScript array. A model cut
 * in segments pays that copy at every boundary, on the largest tensors it has: on mnist-resnet at
 * batch 8 the binding's outputs and per-run work outside onnxruntime cost 0.15–0.27 ms a cut, more
 * than the boundary's own operators (docs/benchmarks.md, "Runs on buffers of our own"). Here each
 * output is a fresh JavaScript buffer handed to onnxruntime as the run's pre-allocated output, so
 * onnxruntime writes the activation straight into the array the next segment reads: no copy, and
 * no per-run conversion of tensors through the binding.
 *
 * Pre-allocating needs each output's shape before the run. For a given set of input shapes it is
 * learnt from one run where onnxruntime allocates (its outputs then copied once, as the binding
 * would), and reused; a model whose output shapes depend on the input values is found out by a
 * pre-allocated run failing, and is run the learning way from then on for those input shapes.
 * Segments and whole models with padded batch sizes see a handful of input shapes.
 */
import koffi from 'koffi';
import type { PlainDtype, PlainFeeds, PlainTensor } from './batch-encoding';
import { decodeString, ortApi, type OrtApi } from './ort-c-api';

/** `ONNXTensorElementDataType` of each dtype a plain tensor may have. */
const ELEMENT_TYPES: Readonly<Record<PlainDtype, number>> = {
  float32: 1,
  int32: 6,
  int64: 7,
  bool: 9,
  float64: 11,
};
const DTYPES: ReadonlyMap<number, PlainDtype> = new Map(
  Object.entries(ELEMENT_TYPES).map(([dtype, type]) => [type, dtype as PlainDtype]),
);
const BYTES: Readonly<Record<PlainDtype, number>> = { float32: 4, int32: 4, int64: 8, bool: 1, float64: 8 };

/** Whether this thread's blocking CPU sessions run directly, and if not, why. */
export type DirectRunState = { readonly direct: true } | { readonly direct: false; readonly reason: string };

/**
 * `APPARATE_DIRECT_RUN=off` runs every session through onnxruntime-node's binding, for operators
 * who need to rule this path out, and for measuring what it saves.
 */
const SWITCH = 'APPARATE_DIRECT_RUN';

let state: DirectRunState | undefined;

/**
 * Whether sessions can run through the C API on this thread: not where turned off, nor where the
 * library cannot be reached (sessions then run through the binding, as before). Never throws.
 */
export function directRunState(): DirectRunState {
  if (state) return state;
  if (process.env[SWITCH] === 'off') {
    state = { direct: false, reason: `turned off by ${SWITCH}=off` };
  } else {
    try {
      ortApi();
      state = { direct: true };
    } catch (cause) {
      state = { direct: false, reason: (cause as Error).message };
    }
  }
  return state;
}

let inFlight: Readonly<Record<string, PlainTensor>> | undefined;

/**
 * The outputs of the direct run in progress on this thread, in the buffers handed to onnxruntime
 * before the run, which its nodes write as they finish: an exit tap's listener reads its ramp's
 * probabilities here while the run goes on (exit-tap.ts). Undefined between runs, and during a
 * run whose outputs onnxruntime allocates (the first at a new set of input shapes).
 */
export function inFlightOutputs(): Readonly<Record<string, PlainTensor>> | undefined {
  return inFlight;
}

/** `GraphOptimizationLevel.ORT_ENABLE_ALL`, what onnxruntime-node's `'all'` means. */
const OPTIMISE_ALL = 99;
/** Input-shape sets remembered per session before the memory is cleared (padded sizes: a few). */
const MAX_PLANS = 256;

export interface DirectSessionOptions {
  /** Threads for one operator; 0 lets onnxruntime choose. */
  readonly intraOpThreads: number;
  /** Session configuration entries, as onnxruntime names them (`session.…`). */
  readonly config: Readonly<Record<string, string>>;
  /**
   * Whether onnxruntime plans each run's memory as one block (see `SessionOptions.memoryPattern`);
   * default true, onnxruntime's own default.
   */
  readonly memoryPattern?: boolean;
  /** Custom operator domains (`OrtCustomOpDomain`) the model's nodes may use (exit-tap.ts). */
  readonly customOpDomains?: readonly unknown[];
}

export interface DirectSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Runs the model on the calling thread (blocking it) and returns every output. */
  runAny(feeds: PlainFeeds): Record<string, PlainTensor>;
  release(): void;
}

/**
 * What each output of a run will be: a tensor of known dtype and shape, or one of the inputs
 * handed back as it is (a segment passes a side tensor such as an attention mask on to the next:
 * onnxruntime then returns the input's own value, and never writes a buffer given for it). 'learn'
 * where the shapes must be learnt run by run.
 */
type OutputPlan =
  | readonly ({ readonly dtype: PlainDtype; readonly dims: readonly number[] } | { readonly input: string })[]
  | 'learn';

/** An onnxruntime value over `tensor`'s own buffer (onnxruntime reads and writes it in place). */
function wrap(c: OrtApi, tensor: PlainTensor, name: string): unknown {
  const value: unknown[] = [null];
  c.check(
    c.call(
      'CreateTensorWithDataAsOrtValue',
      c.ownedMemory,
      tensor.data,
      tensor.data.byteLength,
      BigInt64Array.from(tensor.dims, (d) => BigInt(d)),
      tensor.dims.length,
      ELEMENT_TYPES[tensor.dtype],
      value,
    ),
    `tensor ${name}`,
  );
  return value[0];
}

/** A typed array of `dtype` over an uninitialised buffer (onnxruntime fills every element). */
function allocate(dtype: PlainDtype, dims: readonly number[]): PlainTensor['data'] {
  const count = dims.reduce((n, d) => n * d, 1);
  // allocUnsafeSlow: a buffer of its own (never a slice of Node's pool), left unzeroed. Freed as
  // soon as the batch is done (release-tensors.ts), its memory is what the next batch is given.
  const buffer = Buffer.allocUnsafeSlow(count * BYTES[dtype]).buffer;
  switch (dtype) {
    case 'float32':
      return new Float32Array(buffer, 0, count);
    case 'int32':
      return new Int32Array(buffer, 0, count);
    case 'int64':
      return new BigInt64Array(buffer, 0, count);
    case 'bool':
      return new Uint8Array(buffer, 0, count);
    case 'float64':
      return new Float64Array(buffer, 0, count);
  }
}

/**
 * Copies a value onnxruntime allocated (a run's output, a tap's input) into a tensor of our own,
 * and says what it was.
 */
export function readValue(c: OrtApi, value: unknown, name: string): PlainTensor {
  const info: unknown[] = [null];
  c.check(c.call('GetTensorTypeAndShape', value, info), `shape of ${name}`);
  try {
    const type: unknown[] = [0];
    c.check(c.call('GetTensorElementType', info[0], type), `type of ${name}`);
    const dtype = DTYPES.get(type[0] as number);
    if (dtype === undefined)
      throw new Error(
        `output ${name} has onnxruntime element type ${String(type[0])}; outputs may be ${[...DTYPES.values()].join(', ')}`,
      );
    const rank: unknown[] = [0];
    c.check(c.call('GetDimensionsCount', info[0], rank), `rank of ${name}`);
    const dimensions = new BigInt64Array(Number(rank[0]));
    c.check(c.call('GetDimensions', info[0], dimensions, dimensions.length), `dims of ${name}`);
    const dims = Array.from(dimensions, Number);
    const data = allocate(dtype, dims);
    if (data.byteLength > 0) {
      const pointer: unknown[] = [null];
      c.check(c.call('GetTensorMutableData', value, pointer), `data of ${name}`);
      new Uint8Array(data.buffer, 0, data.byteLength).set(
        new Uint8Array(koffi.view(pointer[0], data.byteLength)),
      );
    }
    return { dtype, dims, data };
  } finally {
    c.call('ReleaseTensorTypeAndShapeInfo', info[0]);
  }
}

/** Where a value's data lies, for telling an output that is an input handed back. */
function dataAddress(c: OrtApi, value: unknown): bigint {
  const pointer: unknown[] = [null];
  c.check(c.call('GetTensorMutableData', value, pointer), 'GetTensorMutableData');
  // An empty tensor may have no data at all; 0 then matches nothing (empty outputs are skipped).
  return pointer[0] === null ? 0n : koffi.address(pointer[0]);
}

/** The names of a session's inputs or outputs, in its order. */
function names(c: OrtApi, session: unknown, which: 'Input' | 'Output'): string[] {
  const allocator: unknown[] = [null];
  c.check(c.call('GetAllocatorWithDefaultOptions', allocator), 'GetAllocatorWithDefaultOptions');
  const count: unknown[] = [0];
  c.check(c.call(`SessionGet${which}Count`, session, count), `Session${which}Count`);
  return Array.from({ length: Number(count[0]) }, (_, index) => {
    const pointer: unknown[] = [null];
    c.check(c.call(`SessionGet${which}Name`, session, index, allocator[0], pointer), `${which} name`);
    try {
      return decodeString(pointer[0]);
    } finally {
      c.check(c.call('AllocatorFree', allocator[0], pointer[0]), 'AllocatorFree');
    }
  });
}

function openNative(c: OrtApi, model: string | Uint8Array, options: DirectSessionOptions): unknown {
  const sessionOptions: unknown[] = [null];
  c.check(c.call('CreateSessionOptions', sessionOptions), 'CreateSessionOptions');
  try {
    c.check(c.call('SetIntraOpNumThreads', sessionOptions[0], options.intraOpThreads), 'intra-op threads');
    c.check(
      c.call('SetSessionGraphOptimizationLevel', sessionOptions[0], OPTIMISE_ALL),
      'optimisation level',
    );
    if (options.memoryPattern === false)
      c.check(c.call('DisableMemPattern', sessionOptions[0]), 'memory pattern');
    for (const domain of options.customOpDomains ?? [])
      c.check(c.call('AddCustomOpDomain', sessionOptions[0], domain), 'custom operators');
    for (const [key, value] of Object.entries(options.config))
      c.check(c.call('AddSessionConfigEntry', sessionOptions[0], key, value), `session option ${key}`);
    const session: unknown[] = [null];
    c.check(
      typeof model === 'string'
        ? c.call('CreateSession', c.env, model, sessionOptions[0], session)
        : c.call('CreateSessionFromArray', c.env, model, model.byteLength, sessionOptions[0], session),
      'CreateSession',
    );
    return session[0];
  } finally {
    c.call('ReleaseSessionOptions', sessionOptions[0]);
  }
}

/** Opens a CPU session over an ONNX file or its bytes; throws what onnxruntime said on failure. */
export function openDirectSession(model: string | Uint8Array, options: DirectSessionOptions): DirectSession {
  const c = ortApi();
  let session: unknown = openNative(c, model, options);
  const inputNames = names(c, session, 'Input');
  const outputNames = names(c, session, 'Output');
  const plans = new Map<string, OutputPlan>();

  /** Runs once; null outputs are allocated by onnxruntime and returned in `values`. */
  const run = (inputs: readonly unknown[], values: unknown[]): void => {
    c.check(
      c.call('Run', session, null, inputNames, inputs, inputs.length, outputNames, values.length, values),
      'Run',
    );
  };

  /**
   * A run whose outputs onnxruntime allocates, copied out, and the plan it shows: an output whose
   * memory is an input's is that input handed back.
   */
  const learn = (inputs: readonly unknown[]): { outputs: Record<string, PlainTensor>; plan: OutputPlan } => {
    const values: unknown[] = outputNames.map(() => null);
    run(inputs, values);
    const outputs: Record<string, PlainTensor> = {};
    try {
      const inputAt = new Map(
        inputs.map((value, index) => [dataAddress(c, value), inputNames[index] as string]),
      );
      const plan = outputNames.map((name, index) => {
        const tensor = readValue(c, values[index], name);
        outputs[name] = tensor;
        const input = tensor.data.byteLength > 0 ? inputAt.get(dataAddress(c, values[index])) : undefined;
        return input !== undefined ? { input } : { dtype: tensor.dtype, dims: tensor.dims };
      });
      return { outputs, plan };
    } finally {
      for (const value of values) if (value !== null) c.call('ReleaseValue', value);
    }
  };

  return {
    inputNames,
    outputNames,
    runAny(feeds) {
      if (session === null) throw new Error('this session has been released');
      const inputs: unknown[] = [];
      try {
        for (const name of inputNames) {
          const tensor = feeds[name];
          if (!tensor) throw new Error(`input ${name} is missing; this model takes ${inputNames.join(', ')}`);
          inputs.push(wrap(c, tensor, name));
        }
        const key = inputNames.map((name) => (feeds[name] as PlainTensor).dims.join('x')).join(',');
        const plan = plans.get(key);
        if (plan === 'learn') return learn(inputs).outputs;
        if (plan === undefined) {
          const learnt = learn(inputs);
          if (plans.size >= MAX_PLANS) plans.clear();
          plans.set(key, learnt.plan);
          return learnt.outputs;
        }
        const outputs: Record<string, PlainTensor> = {};
        const values: unknown[] = [];
        try {
          plan.forEach((planned, index) => {
            const name = outputNames[index] as string;
            if ('input' in planned) {
              outputs[name] = feeds[planned.input] as PlainTensor;
              values.push(null);
              return;
            }
            const tensor: PlainTensor = { ...planned, data: allocate(planned.dtype, planned.dims) };
            outputs[name] = tensor;
            values.push(wrap(c, tensor, name));
          });
          inFlight = outputs;
          try {
            run(inputs, values);
          } finally {
            inFlight = undefined;
          }
          return outputs;
        } catch {
          // Run again the learning way: it reports a failure of the run itself, and where it
          // succeeds with another plan than the one learnt, the outputs of these input shapes
          // depend on the values, and are learnt run by run from now on.
          const learnt = learn(inputs);
          if (JSON.stringify(learnt.plan) !== JSON.stringify(plan)) plans.set(key, 'learn');
          return learnt.outputs;
        } finally {
          for (const value of values) if (value !== null) c.call('ReleaseValue', value);
        }
      } finally {
        for (const value of inputs) c.call('ReleaseValue', value);
      }
    },
    release() {
      if (session === null) return;
      c.call('ReleaseSession', session);
      session = null;
    },
  };
}
