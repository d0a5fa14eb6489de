/**
 * Exit taps: a ramp's answer handed out from inside one run of the whole model.
 *
 * Serving a model in segments, one onnxruntime session each, costs a boundary at every ramp: one
 * more run, the activation handed from one session to the next, and the next session's memory
 * coming back into the caches (docs/benchmarks.md, "switching sessions"). A tap avoids the
 * boundary altogether. The ramp's head is added to the whole model, and its probabilities go into
 * a one-node custom operator (`apparate.ExitTap`) whose kernel is a JavaScript function, reached
 * through onnxruntime's C API with koffi. onnxruntime runs a CPU graph's nodes one after another
 * on the thread that called `Run` (parallelism is inside an operator), so the kernel runs on that
 * thread, in the middle of the run, as soon as the ramp's probabilities exist; it copies them out
 * and hands them to the run's listener, which posts them to the main thread, and the run goes on.
 * What a ramp then costs is its head's few operators and one call into JavaScript, the paper's
 * premise for what an exit costs.
 *
 * The tap's one output is a single float the model's caller may ignore; it is a graph output so
 * that onnxruntime keeps the node. Where in the run a tap fires is onnxruntime's execution order
 * (exit-taps.ts in core/onnx arranges the graph for it, and the serving chain checks it).
 */
import { performance } from 'node:perf_hooks';
import koffi from 'koffi';
import { EXIT_TAP_ATTRIBUTE, EXIT_TAP_DOMAIN, EXIT_TAP_OP } from '../onnx/exit-taps';
import type { PlainTensor } from './batch-encoding';
import { directRunState, readValue } from './direct-session';
import { ortApi, type OrtApi } from './ort-c-api';

/** Called, during a run, with a tap's index and its input (the ramp's probabilities, a copy). */
export type ExitListener = (tap: number, probs: PlainTensor) => void;

/** Whether this thread can serve through exit taps, and if not, why. */
export type ExitTapState =
  { readonly available: true } | { readonly available: false; readonly reason: string };

/**
 * `APPARATE_EXIT_TAPS=off` serves every ramp through a cut model instead, for operators who need
 * to rule taps out, and for measuring what they save.
 */
const SWITCH = 'APPARATE_EXIT_TAPS';

/** `ONNXTensorElementDataType` float. */
const FLOAT = 1;
/**
 * `OrtCustomOp.version`: 16 reads the fields up to the second kernel functions (left empty, so
 * the first ones are used) and none of the later ones (shape inference, opset range, in-place).
 */
const OP_VERSION = 16;

interface TapRuntime {
  readonly domain: unknown;
  /** The listener of the run in progress on this thread. */
  listener: ExitListener | undefined;
  /** The first error a listener threw during the run in progress (a kernel cannot throw). */
  failure: Error | undefined;
  /** Time spent in tap kernels on this thread, ms, summed (what a tap costs at the least). */
  kernelMs: number;
}

let runtime: TapRuntime | undefined;
let state: ExitTapState | undefined;

/** Function pointer fields of `OrtCustomOp`, in the order of onnxruntime_c_api.h. */
const FIELDS = [
  'CreateKernel',
  'GetName',
  'GetExecutionProviderType',
  'GetInputType',
  'GetInputTypeCount',
  'GetOutputType',
  'GetOutputTypeCount',
  'KernelCompute',
  'KernelDestroy',
  'GetInputCharacteristic',
  'GetOutputCharacteristic',
  'GetInputMemoryType',
  'GetVariadicInputMinArity',
  'GetVariadicInputHomogeneity',
  'GetVariadicOutputMinArity',
  'GetVariadicOutputHomogeneity',
  'CreateKernelV2',
  'KernelComputeV2',
  'InferOutputShapeFn',
  'GetStartVersion',
  'GetEndVersion',
  'GetMayInplace',
  'ReleaseMayInplace',
  'GetAliasMap',
  'ReleaseAliasMap',
] as const;

/** Memory and callbacks that must live as long as any session holding the operator: the thread. */
const kept: unknown[] = [];

function callback(fn: (...args: never[]) => unknown, result: string, args: readonly string[]): unknown {
  const pointer = koffi.register(fn, koffi.pointer(koffi.proto(result, [...args])));
  kept.push(pointer);
  return pointer;
}

function cString(text: string): unknown {
  const memory: unknown = koffi.alloc('char', text.length + 1);
  koffi.encode(memory, 'char', text, text.length + 1);
  kept.push(memory);
  return memory;
}

/** The kernel of one tap node: reads its input, hands a copy to the run's listener, writes 0. */
function compute(c: OrtApi, tapRuntime: TapRuntime, kernel: unknown, context: unknown): void {
  const began = performance.now();
  try {
    const tap = Number(koffi.decode(kernel, 'int64_t') as bigint | number);
    const input: unknown[] = [null];
    c.check(c.call('KernelContext_GetInput', context, 0, input), 'tap input');
    const output: unknown[] = [null];
    c.check(c.call('KernelContext_GetOutput', context, 0, new BigInt64Array([1n]), 1, output), 'tap output');
    const data: unknown[] = [null];
    c.check(c.call('GetTensorMutableData', output[0], data), 'tap output data');
    new Float32Array(koffi.view(data[0], 4))[0] = 0;
    // The output exists before the listener runs, so that a listener's error fails this run
    // with that error, not with a missing output.
    const listener = tapRuntime.listener;
    if (listener && tapRuntime.failure === undefined) listener(tap, readValue(c, input[0], 'tap input'));
  } catch (error) {
    tapRuntime.failure ??= error instanceof Error ? error : new Error(String(error));
  } finally {
    tapRuntime.kernelMs += performance.now() - began;
  }
}

function createRuntime(): TapRuntime {
  const c = ortApi();
  const struct = koffi.struct('OrtCustomOp', {
    version: 'uint32_t',
    ...Object.fromEntries(FIELDS.map((field) => [field, 'void *'])),
  });
  const name = cString(EXIT_TAP_OP);
  const domain: unknown[] = [null];
  c.check(c.call('CreateCustomOpDomain', EXIT_TAP_DOMAIN, domain), 'CreateCustomOpDomain');
  const tapRuntime: TapRuntime = { domain: domain[0], listener: undefined, failure: undefined, kernelMs: 0 };
  const createKernel = (_op: unknown, _api: unknown, info: unknown): unknown => {
    const index: unknown[] = [0n];
    c.check(c.call('KernelInfoGetAttribute_int64', info, EXIT_TAP_ATTRIBUTE, index), 'tap attribute');
    const kernel: unknown = koffi.alloc('int64_t', 1);
    koffi.encode(kernel, 'int64_t', BigInt(index[0] as bigint | number));
    return kernel;
  };
  const op: unknown = koffi.alloc(struct, 1);
  kept.push(op);
  const none = null;
  koffi.encode(op, struct, {
    version: OP_VERSION,
    CreateKernel: callback(createKernel, 'void *', ['void *', 'void *', 'void *']),
    GetName: callback(() => name, 'void *', ['void *']),
    GetExecutionProviderType: callback(() => null, 'void *', ['void *']),
    GetInputType: callback(() => FLOAT, 'int', ['void *', 'size_t']),
    GetInputTypeCount: callback(() => 1, 'size_t', ['void *']),
    GetOutputType: callback(() => FLOAT, 'int', ['void *', 'size_t']),
    GetOutputTypeCount: callback(() => 1, 'size_t', ['void *']),
    KernelCompute: callback(
      (kernel: unknown, context: unknown) => compute(c, tapRuntime, kernel, context),
      'void',
      ['void *', 'void *'],
    ),
    KernelDestroy: callback((kernel: unknown) => koffi.free(kernel), 'void', ['void *']),
    GetInputCharacteristic: callback(() => 0, 'int', ['void *', 'size_t']),
    GetOutputCharacteristic: callback(() => 0, 'int', ['void *', 'size_t']),
    GetInputMemoryType: callback(() => 0, 'int', ['void *', 'size_t']),
    ...Object.fromEntries(FIELDS.slice(12).map((field) => [field, none])),
  });
  c.check(c.call('CustomOpDomain_Add', domain[0], op), 'CustomOpDomain_Add');
  return tapRuntime;
}

/**
 * Whether sessions on this thread can carry exit taps: they run through the C API
 * (`directRunState`), not turned off by `APPARATE_EXIT_TAPS=off`, and the operator registers.
 * Never throws.
 */
export function exitTapState(): ExitTapState {
  if (state) return state;
  if (process.env[SWITCH] === 'off') state = { available: false, reason: `turned off by ${SWITCH}=off` };
  else {
    const direct = directRunState();
    if (!direct.direct)
      state = { available: false, reason: `sessions do not run directly: ${direct.reason}` };
    else {
      try {
        runtime = createRuntime();
        state = { available: true };
      } catch (cause) {
        state = { available: false, reason: (cause as Error).message };
      }
    }
  }
  return state;
}

/** This thread's operator domain, to add to a session's options (only where taps are available). */
export function exitTapDomain(): unknown {
  const available = exitTapState();
  if (!available.available || !runtime)
    throw new Error(`exit taps are not available: ${available.available ? '' : available.reason}`);
  return runtime.domain;
}

function failureOf(tapRuntime: TapRuntime): Error | undefined {
  return tapRuntime.failure;
}

/**
 * Runs `run` (a session run on this thread, which must be synchronous) with `listener` receiving
 * each tap's probabilities as its node runs. A listener's error is thrown once the run is over.
 */
export function withExitListener<T>(listener: ExitListener, run: () => T): T {
  const tapRuntime = runtime;
  if (!tapRuntime) return run();
  if (tapRuntime.listener) throw new Error('a run with exit taps is already in progress on this thread');
  tapRuntime.listener = listener;
  tapRuntime.failure = undefined;
  try {
    const result = run();
    // Read through a function: the kernel set it during `run`, which narrowing cannot see.
    const failure = failureOf(tapRuntime);
    if (failure) throw failure;
    return result;
  } finally {
    tapRuntime.listener = undefined;
    tapRuntime.failure = undefined;
  }
}

/** Time this thread has spent inside tap kernels, ms (for profiling what a tap costs). */
export function tapKernelMs(): number {
  return runtime?.kernelMs ?? 0;
}
