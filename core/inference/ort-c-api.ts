/**
 * onnxruntime's C API, reached through koffi (a maintained FFI with prebuilt binaries) in the very
 * library onnxruntime-node's binding loads, so both share one process-wide environment.
 *
 * onnxruntime-node covers what most callers need, but not two things this project measures its
 * way to: registering one arena for every session (shared-arena.ts), and running a session on
 * buffers the caller owns, outputs included (direct-session.ts), which its binding does not do (it
 * copies every output into a new JavaScript array after the run).
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import koffi from 'koffi';
import { initOrt } from 'onnxruntime-node/dist/binding';

/**
 * The C API version asked for. Positions in the function table (`OrtApi`) only ever grow at its
 * end, and onnxruntime checks them for its shipped versions when it is built, so the positions
 * below hold in every release that offers this version (onnxruntime 1.8 and later).
 */
const API_VERSION = 8;

const out = (type: string) => koffi.out(koffi.pointer(type));

/** `OrtStatus*` comes back from most calls: null for success. */
const STATUS = 'void *';

/** The C functions used by this project: each one's position in the table and its signature. */
function signatures() {
  return {
    GetErrorMessage: [2, koffi.proto('const char *', ['void *'])],
    CreateEnv: [3, koffi.proto(STATUS, ['int', 'const char *', out('void *')])],
    CreateSession: [7, koffi.proto(STATUS, ['void *', 'const char *', 'void *', out('void *')])],
    CreateSessionFromArray: [8, koffi.proto(STATUS, ['void *', 'void *', 'size_t', 'void *', out('void *')])],
    Run: [
      9,
      koffi.proto(STATUS, [
        'void *',
        'void *',
        'const char **',
        'void **',
        'size_t',
        'const char **',
        'size_t',
        // Read and written: a null entry comes back as the value onnxruntime allocated (as an
        // address, which koffi takes wherever a pointer is expected).
        koffi.inout(koffi.pointer('void *')),
      ]),
    ],
    CreateSessionOptions: [10, koffi.proto(STATUS, [out('void *')])],
    DisableMemPattern: [17, koffi.proto(STATUS, ['void *'])],
    SetSessionGraphOptimizationLevel: [23, koffi.proto(STATUS, ['void *', 'int'])],
    SetIntraOpNumThreads: [24, koffi.proto(STATUS, ['void *', 'int'])],
    SetInterOpNumThreads: [25, koffi.proto(STATUS, ['void *', 'int'])],
    CreateCustomOpDomain: [26, koffi.proto(STATUS, ['const char *', out('void *')])],
    CustomOpDomain_Add: [27, koffi.proto(STATUS, ['void *', 'void *'])],
    AddCustomOpDomain: [28, koffi.proto(STATUS, ['void *', 'void *'])],
    SessionGetInputCount: [30, koffi.proto(STATUS, ['void *', out('size_t')])],
    SessionGetOutputCount: [31, koffi.proto(STATUS, ['void *', out('size_t')])],
    SessionGetInputName: [36, koffi.proto(STATUS, ['void *', 'size_t', 'void *', out('void *')])],
    SessionGetOutputName: [37, koffi.proto(STATUS, ['void *', 'size_t', 'void *', out('void *')])],
    CreateTensorWithDataAsOrtValue: [
      49,
      koffi.proto(STATUS, ['void *', 'void *', 'size_t', 'int64_t *', 'size_t', 'int', out('void *')]),
    ],
    GetTensorMutableData: [51, koffi.proto(STATUS, ['void *', out('void *')])],
    GetTensorElementType: [60, koffi.proto(STATUS, ['void *', out('int')])],
    GetDimensionsCount: [61, koffi.proto(STATUS, ['void *', out('size_t')])],
    GetDimensions: [62, koffi.proto(STATUS, ['void *', 'int64_t *', 'size_t'])],
    GetTensorTypeAndShape: [65, koffi.proto(STATUS, ['void *', out('void *')])],
    CreateCpuMemoryInfo: [69, koffi.proto(STATUS, ['int', 'int', out('void *')])],
    MemoryInfoGetName: [71, koffi.proto(STATUS, ['void *', out('const char *')])],
    AllocatorFree: [76, koffi.proto(STATUS, ['void *', 'void *'])],
    GetAllocatorWithDefaultOptions: [78, koffi.proto(STATUS, [out('void *')])],
    KernelInfoGetAttribute_int64: [86, koffi.proto(STATUS, ['void *', 'const char *', out('int64_t')])],
    KernelContext_GetInput: [90, koffi.proto(STATUS, ['void *', 'size_t', out('void *')])],
    KernelContext_GetOutput: [
      91,
      koffi.proto(STATUS, ['void *', 'size_t', 'int64_t *', 'size_t', out('void *')]),
    ],
    ReleaseStatus: [93, koffi.proto('void', ['void *'])],
    ReleaseMemoryInfo: [94, koffi.proto('void', ['void *'])],
    ReleaseSession: [95, koffi.proto('void', ['void *'])],
    ReleaseValue: [96, koffi.proto('void', ['void *'])],
    ReleaseTensorTypeAndShapeInfo: [99, koffi.proto('void', ['void *'])],
    ReleaseSessionOptions: [100, koffi.proto('void', ['void *'])],
    ReleaseCustomOpDomain: [101, koffi.proto('void', ['void *'])],
    AddSessionConfigEntry: [130, koffi.proto(STATUS, ['void *', 'const char *', 'const char *'])],
    CreateAndRegisterAllocator: [144, koffi.proto(STATUS, ['void *', 'void *', 'void *'])],
  } as const;
}

export type OrtFunction = keyof ReturnType<typeof signatures>;

/** Table size needed to reach every function above. */
const TABLE_SIZE = 145;

/** onnxruntime's C API as this thread reaches it. */
export interface OrtApi {
  /** Calls a C function; what it returns, as koffi decodes it. */
  readonly call: (name: OrtFunction, ...args: unknown[]) => unknown;
  /** Throws an Error carrying the status's message where `status` is an error (and releases it). */
  readonly check: (status: unknown, what: string) => void;
  /** The process's environment (the binding's own: `CreateEnv` returns the existing one). */
  readonly env: unknown;
  /** Describes CPU memory this thread owns (JavaScript buffers) to onnxruntime; kept for its life. */
  readonly ownedMemory: unknown;
}

/** `OrtAllocatorType.OrtDeviceAllocator`: memory the caller owns. */
const DEVICE_ALLOCATOR = 0;
/** `OrtMemType.OrtMemTypeDefault`, for every memory info this project makes. */
export const DEFAULT_MEMORY = 0;

/** `OrtLoggingLevel` for an environment this call would create (onnxruntime-node's default). */
const WARNING = 2;

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

let api: OrtApi | undefined;

/**
 * The C API of the library onnxruntime-node loaded (loaded once per thread: koffi's handles are
 * per thread). Throws where the library or the version cannot be reached; callers fall back to
 * onnxruntime-node's own calls and say why.
 */
export function ortApi(): OrtApi {
  if (api) return api;
  // The binding creates the environment with its own logging level; ours then only finds it.
  initOrt();
  const library = koffi.load(libraryPath());
  const apiBase = koffi.struct({ GetApi: 'void *', GetVersionString: 'void *' });
  const getApiBase = library.func('OrtGetApiBase', koffi.pointer(apiBase), []);
  const base = koffi.decode(getApiBase(), apiBase) as { GetApi: unknown };
  const pointer: unknown = koffi.call(base.GetApi, koffi.proto('void *', ['uint32_t']), API_VERSION);
  if (pointer === null) throw new Error(`onnxruntime offers no C API version ${API_VERSION}`);
  const table = koffi.decode(pointer, koffi.array('void *', TABLE_SIZE)) as unknown[];
  const c = signatures();
  const call = (name: OrtFunction, ...args: unknown[]): unknown => {
    const [index, prototype] = c[name];
    return koffi.call(table[index], prototype, ...args);
  };
  const check = (status: unknown, what: string): void => {
    if (status === null) return;
    const message = call('GetErrorMessage', status) as string;
    call('ReleaseStatus', status);
    throw new Error(`${what}: ${message}`);
  };
  const env: unknown[] = [null];
  check(call('CreateEnv', WARNING, 'apparate', env), 'CreateEnv');
  const info: unknown[] = [null];
  check(call('CreateCpuMemoryInfo', DEVICE_ALLOCATOR, DEFAULT_MEMORY, info), 'CreateCpuMemoryInfo');
  // A check that the table is the one these positions describe, before anything relies on it: a
  // CPU memory info is named "Cpu".
  const name: unknown[] = [null];
  check(call('MemoryInfoGetName', info[0], name), 'MemoryInfoGetName');
  if (name[0] !== 'Cpu') {
    call('ReleaseMemoryInfo', info[0]);
    throw new Error(`unexpected C API table (memory info "${String(name[0])}")`);
  }
  api = { call, check, env: env[0], ownedMemory: info[0] };
  return api;
}

/** Reads a NUL-terminated string the C API handed out. */
export function decodeString(pointer: unknown): string {
  return koffi.decode(pointer, 'char', -1) as string;
}
