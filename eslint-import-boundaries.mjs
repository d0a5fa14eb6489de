// The allowed import directions between the repository's top-level parts, as eslint
// `no-restricted-imports` settings (docs/architecture.md draws the same picture). Arrows point
// inward: `core/` imports none of the deployables; adapters import only `core/`; the worker and the
// functions import `core/` and adapters; the CLI, benchmarks and infra import all of those. Outside
// its own folder, a deployable is imported only through its public entry: `gpu-worker`,
// `functions`, and each adapter (`adapters/dynamo`, `adapters/queue`, ...), i.e. their index.ts.

const PARTS = ['core', 'adapters', 'gpu-worker', 'functions', 'cli', 'bench', 'infra'];

/** What each part may not import at all. */
const FORBIDDEN = {
  core: ['adapters', 'gpu-worker', 'functions', 'cli', 'bench', 'infra'],
  adapters: ['gpu-worker', 'functions', 'cli', 'bench', 'infra'],
  'gpu-worker': ['functions', 'cli', 'bench', 'infra'],
  functions: ['gpu-worker', 'cli', 'bench', 'infra'],
  infra: ['cli', 'bench'],
  cli: ['bench', 'infra'],
  bench: ['infra'],
};

/** Deep imports: a file inside another deployable instead of its entry. */
const DEEP = [
  {
    regex: '(^|/)gpu-worker/.',
    message: 'Import the worker through its entry (gpu-worker/index.ts), not a file inside it.',
  },
  {
    regex: '(^|/)functions/.',
    message: 'Import the functions through their entry (functions/index.ts), not a file inside them.',
  },
  {
    regex: '(^|/)adapters/[^/]+/.',
    message: 'Import an adapter through its entry (adapters/<name>/index.ts), not a file inside it.',
  },
];

/** Inside adapters/: a sibling adapter (`../queue/...`, or `./queue/...` from adapters/*.ts) only by its entry. */
const ADAPTER_SIBLINGS = [
  {
    regex: '^\\.\\./[^./][^/]*/.',
    message: 'Import another adapter through its entry (../<name>), not a file inside it.',
  },
];
const ADAPTER_TOP_LEVEL = [
  {
    regex: '^\\./[^/]+/.',
    message: 'Import an adapter through its entry (./<name>), not a file inside it.',
  },
];

/** Benchmarks measure the local stack end to end, through its entry; nothing else of the CLI. */
const BENCH_CLI = [
  {
    regex: '(^|/)cli(/(?!stack$)|$)',
    message: 'bench/ may import the local stack through its entry (cli/stack) only, nothing else of cli/.',
  },
];

function forbidden(part) {
  const extra = part === 'bench' ? BENCH_CLI : [];
  return [
    ...extra,
    ...FORBIDDEN[part].map((other) => ({
      regex: `(^|/)${other}(/|$)`,
      message: `${part}/ may not import ${other}/: see the allowed import directions in docs/architecture.md.`,
    })),
  ];
}

function rule(patterns) {
  return { 'no-restricted-imports': ['error', { patterns }] };
}

/** One flat-config object per part (later objects replace a rule's options, so each is complete). */
export const importBoundaries = [
  ...PARTS.map((part) => ({
    files: [`${part}/**/*.ts`],
    rules: rule([...forbidden(part), ...DEEP]),
  })),
  { files: ['adapters/*/**/*.ts'], rules: rule([...forbidden('adapters'), ...DEEP, ...ADAPTER_SIBLINGS]) },
  { files: ['adapters/*.ts'], rules: rule([...forbidden('adapters'), ...DEEP, ...ADAPTER_TOP_LEVEL]) },
];
