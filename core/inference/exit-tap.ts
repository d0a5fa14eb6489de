/**
 * Exit taps: a ramp's answer handed out from inside one run of the whole model.
 *
 * Serving a model in segments, one onnxruntime session each, costs a boundary at every ramp: one
 * more run, the activation handed from one session to the next, and the next session's memory
 * coming back into the caches (docs/benchmarks.md, "switching sessions"). A tap avoids the
 * boundary altogether. The ramp's head is added to the whole model, and its probabilities go into
 * a one-node custom operator (`apparate.ExitTapN`) whose kernel is a JavaScript function, reached
 * through onnxruntime's C API with koffi. onnxruntime runs a CPU graph's nodes one after another
 * on the thread that called `Run` (parallelism is inside an operator), so the kernel runs on that
 * thread, in the middle of the run, as soon as the ramp's probabilities exist, and tells the
 * run's listener, which posts them to the main thread; then the run goes on. What a ramp then
 * costs is its head's few operators and one call into JavaScript, the paper's premise for what an
 * exit costs.
 *
 * The kernel calls nothing back in onnxruntime: each such call from inside a run, with the caches
 * full of the model's data, measured 17–100 µs here, so a kernel that fetched its input and made an
 * output spent 0.1–0.26 ms a run. Instead the probabilities stay a graph output, which a direct
 * session hands onnxruntime as a buffer of its own before the run (direct-session.ts), so the
 * Softmax writes them there and the listener reads them from it (`inFlightOutputs`); the tap has
 * no output (its one output is optional and left out), and each tap index is an operator of its
 * own (`ExitTap0`, `ExitTap1`, …) whose kernel is its index, so the kernel reads nothing. Where
 * in the run a tap fires is onnxruntime's execution order (core/onnx/exit-taps.ts arranges the
 * graph for it, and the serving chain checks it).
 */
import { performance } from 'node:perf_hooks';
import koffi from 'koffi';
import { EXIT_TAP_DOMAIN, exitTapOp, MAX_EXIT_TAPS } from '../onnx/exit-taps';
import type { PlainFeeds, PlainTensor } from './batch-encoding';
import { directRunState, inFlightOutputs } from './direct-session';
import type { ModelSession } from './onnx-session';
import { ortApi } from './ort-c-api';

/** Called, during a run, with the index of the tap whose node has just run. */
export type ExitListener = (tap: number) => void;

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

/** The kernel of tap `tap`'s nodes: tells the run's listener, and times itself. */
function compute(tapRuntime: TapRuntime, tap: number): void {
  const began = performance.now();
  try {
    const listener = tapRuntime.listener;
    if (listener && tapRuntime.failure === undefined) listener(tap);
  } catch (error) {
    tapRuntime.failure ??= error instanceof Error ? error : new Error(String(error));
  } finally {
    tapRuntime.kernelMs += performance.now() - began;
  }
}

/** `OrtCustomOpInputOutputCharacteristic`. */
const REQUIRED = 0;
const OPTIONAL = 1;

function createRuntime(): TapRuntime {
  const c = ortApi();
  // Unnamed: koffi's type names are the process's, and a test process loads this module afresh
  // for each file.
  const struct = koffi.struct({
    version: 'uint32_t',
    ...Object.fromEntries(FIELDS.map((field) => [field, 'void *'])),
  });
  const domain: unknown[] = [null];
  c.check(c.call('CreateCustomOpDomain', EXIT_TAP_DOMAIN, domain), 'CreateCustomOpDomain');
  const tapRuntime: TapRuntime = { domain: domain[0], listener: undefined, failure: undefined, kernelMs: 0 };
  // Every tap operator shares its callbacks (koffi allows 8,192 a process, and a test process
  // loads this module afresh for each file): each callback is told which operator it serves by the
  // address of the operator's struct, taken as a number (a pointer is a `uintptr_t` to the C
  // ABI), and the kernel, made per node, is the tap's index plus one, so the kernel need not read
  // anything through koffi to know its tap.
  const tapOf = new Map<number, number>();
  const names = Array.from({ length: MAX_EXIT_TAPS }, (_, tap) => cString(exitTapOp(tap)));
  const ops = Array.from({ length: MAX_EXIT_TAPS }, (): unknown => {
    const op: unknown = koffi.alloc(struct, 1);
    kept.push(op);
    return op;
  });
  ops.forEach((op, tap) => tapOf.set(Number(koffi.address(op)), tap));
  const fields = {
    version: OP_VERSION,
    CreateKernel: callback((op: number) => (tapOf.get(Number(op)) ?? 0) + 1, 'uintptr_t', [
      'uintptr_t',
      'void *',
      'void *',
    ]),
    GetName: callback((op: number) => names[tapOf.get(Number(op)) ?? 0], 'void *', ['uintptr_t']),
    GetExecutionProviderType: callback(() => null, 'void *', ['void *']),
    GetInputType: callback(() => FLOAT, 'int', ['void *', 'size_t']),
    GetInputTypeCount: callback(() => 1, 'size_t', ['void *']),
    GetOutputType: callback(() => FLOAT, 'int', ['void *', 'size_t']),
    GetOutputTypeCount: callback(() => 1, 'size_t', ['void *']),
    KernelCompute: callback((kernel: number) => compute(tapRuntime, Number(kernel) - 1), 'void', [
      'uintptr_t',
      'void *',
    ]),
    KernelDestroy: callback(() => undefined, 'void', ['void *']),
    GetInputCharacteristic: callback(() => REQUIRED, 'int', ['void *', 'size_t']),
    GetOutputCharacteristic: callback(() => OPTIONAL, 'int', ['void *', 'size_t']),
    GetInputMemoryType: callback(() => 0, 'int', ['void *', 'size_t']),
    ...Object.fromEntries(FIELDS.slice(12).map((field) => [field, null])),
  };
  for (const op of ops) {
    koffi.encode(op, struct, fields);
    c.check(c.call('CustomOpDomain_Add', domain[0], op), 'CustomOpDomain_Add');
  }
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

/**
 * Runs a session with exit taps, handing tap i's probabilities (`probs[i]`, a graph output, read
 * in the run's own buffer: copy what is kept) to `onTap` as its node runs. On a run whose outputs
 * onnxruntime allocates (a new input shape's first: warm-up runs them), they are handed over once
 * the run is done, in tap order.
 */
export async function runTapped(
  session: ModelSession,
  feeds: PlainFeeds,
  probs: readonly string[],
  onTap: (tap: number, probs: PlainTensor) => void,
): Promise<Record<string, PlainTensor>> {
  const late: number[] = [];
  // The session runs directly, so the run is over when `runAny` returns its promise.
  const outputs = await withExitListener(
    (tap) => {
      const tensor = inFlightOutputs()?.[probs[tap] ?? ''];
      if (tensor) onTap(tap, tensor);
      else late.push(tap);
    },
    () => session.runAny(feeds),
  );
  for (const tap of late) {
    const tensor = outputs[probs[tap] ?? ''];
    if (!tensor) throw new Error(`the tapped run gave no ${probs[tap] ?? `tap ${tap}`}`);
    onTap(tap, tensor);
  }
  return outputs;
}
