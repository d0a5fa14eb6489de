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
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import koffi from 'koffi';
import { initOrt } from 'onnxruntime-node/dist/binding';

/**
 * Positions in onnxruntime's C function table (`OrtApi`). The table only ever grows at its end,
 * and onnxruntime checks the sizes of its shipped versions when it is built, so these stay valid
 * in every release since the version asked for (8, which has all of them).
 */
const API_VERSION = 8;
const GET_ERROR_MESSAGE = 2;
const CREATE_ENV = 3;
const CREATE_CPU_MEMORY_INFO = 69;
const MEMORY_INFO_GET_NAME = 71;
const RELEASE_STATUS = 93;
const RELEASE_MEMORY_INFO = 94;
const CREATE_AND_REGISTER_ALLOCATOR = 144;
const TABLE_SIZE = 145;

/** `OrtAllocatorType.OrtArenaAllocator` and `OrtMemType.OrtMemTypeDefault`. */
const ARENA_ALLOCATOR = 1;
const DEFAULT_MEMORY = 0;
/** `OrtLoggingLevel` for an environment this call would create (onnxruntime-node's default). */
const WARNING = 2;

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

/**
 * The library onnxruntime-node's binding links against, beside it in the package (named per
 * platform: `libonnxruntime.so.1`, a versioned `.dylib`, `onnxruntime.dll`).
 */
function libraryPath(): string {
  const folder = dirname(
    require.resolve(
      `onnxruntime-node/bin/napi-v6/${process.platform}/${process.arch}/onnxruntime_binding.node`,
    ),
  );
  const name = readdirSync(folder).find((file) =>
    /^(lib)?onnxruntime(\.[\d.]+)?\.(so|dylib|dll)(\.\d+)*$/.test(file),
  );
  if (name === undefined) throw new Error(`no onnxruntime library beside the binding in ${folder}`);
  return join(folder, name);
}

/** The C functions used here, each as its position in the table and its signature. */
function signatures() {
  const out = (type: string) => koffi.out(koffi.pointer(type));
  return {
    getErrorMessage: [GET_ERROR_MESSAGE, koffi.proto('const char *', ['void *'])],
    createEnv: [CREATE_ENV, koffi.proto('void *', ['int', 'const char *', out('void *')])],
    createCpuMemoryInfo: [CREATE_CPU_MEMORY_INFO, koffi.proto('void *', ['int', 'int', out('void *')])],
    memoryInfoGetName: [MEMORY_INFO_GET_NAME, koffi.proto('void *', ['void *', out('const char *')])],
    releaseStatus: [RELEASE_STATUS, koffi.proto('void', ['void *'])],
    releaseMemoryInfo: [RELEASE_MEMORY_INFO, koffi.proto('void', ['void *'])],
    createAndRegisterAllocator: [
      CREATE_AND_REGISTER_ALLOCATOR,
      koffi.proto('void *', ['void *', 'void *', 'void *']),
    ],
  } as const;
}

function register(): SharedArenaState {
  // The binding creates the environment with its own logging level; ours then only finds it.
  initOrt();
  const library = koffi.load(libraryPath());
  const apiBase = koffi.struct({ GetApi: 'void *', GetVersionString: 'void *' });
  const getApiBase = library.func('OrtGetApiBase', koffi.pointer(apiBase), []);
  const base = koffi.decode(getApiBase(), apiBase) as { GetApi: unknown };
  const api: unknown = koffi.call(base.GetApi, koffi.proto('void *', ['uint32_t']), API_VERSION);
  if (api === null) return { shared: false, reason: `onnxruntime offers no C API version ${API_VERSION}` };
  const table = koffi.decode(api, koffi.array('void *', TABLE_SIZE)) as unknown[];
  const c = signatures();
  const call = (which: keyof typeof c, ...args: unknown[]): unknown => {
    const [index, prototype] = c[which];
    return koffi.call(table[index], prototype, ...args);
  };
  /** The error a returned status carries (released here), or null for success. */
  const failure = (status: unknown, what: string): string | null => {
    if (status === null) return null;
    const message = call('getErrorMessage', status) as string;
    call('releaseStatus', status);
    return `${what}: ${message}`;
  };
  const env: unknown[] = [null];
  const envFailed = failure(call('createEnv', WARNING, 'apparate', env), 'CreateEnv');
  if (envFailed) return { shared: false, reason: envFailed };
  const memoryInfo: unknown[] = [null];
  const infoFailed = failure(
    call('createCpuMemoryInfo', ARENA_ALLOCATOR, DEFAULT_MEMORY, memoryInfo),
    'CreateCpuMemoryInfo',
  );
  if (infoFailed) return { shared: false, reason: infoFailed };
  try {
    // A check that the table is the one these positions describe: a CPU memory info is named "Cpu".
    const name: unknown[] = [null];
    const nameFailed = failure(call('memoryInfoGetName', memoryInfo[0], name), 'MemoryInfoGetName');
    if (nameFailed || name[0] !== 'Cpu')
      return {
        shared: false,
        reason: nameFailed ?? `unexpected C API table (memory info "${String(name[0])}")`,
      };
    const registerFailed = failure(
      call('createAndRegisterAllocator', env[0], memoryInfo[0], null),
      'CreateAndRegisterAllocator',
    );
    return registerFailed ? { shared: false, reason: registerFailed } : { shared: true };
  } finally {
    call('releaseMemoryInfo', memoryInfo[0]);
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
