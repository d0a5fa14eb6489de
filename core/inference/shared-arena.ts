/**
 * One CPU memory arena for every onnxruntime session in the process.
 *
 * Each onnxruntime session otherwise allocates from an arena of its own, so a model cut in
 * segments, one session each, runs every segment in different memory: at each boundary the core
 * leaves the buffers it has just warmed and refills its caches with the next session's, a cost the
 * whole model never pays (docs/benchmarks.md, "switching sessions"; on MobileNetV3-small two to
 * three times a cut's own floor). onnxruntime can instead give every session one allocator that
 * lives in its process-wide environment: a segment's planned buffers are freed at the end of its
 * run and the next segment's run is handed the same, still cached, memory.
 *
 * onnxruntime-node exposes neither the call that registers such an allocator nor a way to reach
 * the environment, but the environment is a singleton of the shared library onnxruntime-node
 * loads, so the library's C API, called through koffi (a maintained FFI with prebuilt binaries),
 * reaches the same one: `CreateEnv` returns the existing environment, `CreateAndRegisterAllocator`
 * adds a CPU arena to it, and a session opened with `session.use_env_allocators` set uses it.
 * Sessions of other threads (the worker's inference lanes) share the same arena, which locks.
 */
import { isMainThread } from 'node:worker_threads';
import { DEFAULT_MEMORY, ortApi } from './ort-c-api';

/** `OrtAllocatorType.OrtArenaAllocator`: memory onnxruntime pools for its sessions. */
const ARENA_ALLOCATOR = 1;

/** The session option that makes a session allocate from the environment's arena. */
export const USE_SHARED_ARENA = { use_env_allocators: '1' } as const;

/** Whether this process's sessions can share one arena, and if not, why. */
export type SharedArenaState =
  { readonly shared: true } | { readonly shared: false; readonly reason: string };

/**
 * Set by the main thread once it has registered the arena, to its process id: worker threads
 * inherit the environment variables of the thread that starts them, and the id keeps a child
 * process, which inherits them too, from taking its parent's arena for its own.
 */
const REGISTERED = 'APPARATE_SHARED_ARENA_PID';

/**
 * `APPARATE_SHARED_ARENA=off` keeps every session on an arena of its own, for operators who need
 * to rule the shared arena out, and for measuring what it saves end to end.
 */
const SWITCH = 'APPARATE_SHARED_ARENA';

let state: SharedArenaState | undefined;

function register(): SharedArenaState {
  const { call, check, env } = ortApi();
  const memoryInfo: unknown[] = [null];
  check(call('CreateCpuMemoryInfo', ARENA_ALLOCATOR, DEFAULT_MEMORY, memoryInfo), 'CreateCpuMemoryInfo');
  try {
    check(call('CreateAndRegisterAllocator', env, memoryInfo[0], null), 'CreateAndRegisterAllocator');
    return { shared: true };
  } finally {
    call('ReleaseMemoryInfo', memoryInfo[0]);
  }
}

/**
 * Whether this thread's sessions can share the process's CPU arena. The main thread registers it
 * on its first call; onnxruntime lets a second registration replace the first, which could race
 * with a session being opened on another thread, so worker threads never register: they share the
 * arena when the main thread registered it before starting them (the inference engines and the
 * slicing benchmark's lanes call this first), and keep their own arenas otherwise. Never throws:
 * where the library cannot be reached, the reason is returned for the caller to report.
 */
export function ensureSharedArena(): SharedArenaState {
  if (state) return state;
  if (process.env[SWITCH] === 'off') {
    state = { shared: false, reason: `turned off by ${SWITCH}=off` };
  } else if (isMainThread) {
    try {
      state = register();
    } catch (cause) {
      state = { shared: false, reason: (cause as Error).message };
    }
    if (state.shared) process.env[REGISTERED] = String(process.pid);
  } else {
    state =
      process.env[REGISTERED] === String(process.pid)
        ? { shared: true }
        : { shared: false, reason: 'the main thread registered no shared arena before starting this thread' };
  }
  return state;
}
