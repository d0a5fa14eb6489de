/**
 * What one end-to-end evaluation run measures and for how long. The full plan is sized so the
 * whole benchmark (bundle preparation included) fits in 30 minutes on a 2-core machine; `--quick`
 * shrinks every run to a few seconds and one repeat, for development and the schema test. Every
 * knob is parsed with zod at the command-line edge, so a typo is refused before minutes of work.
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';
import { describeIssues, InputError } from '../../core/errors';
import type { ThreadLayout } from '../../core/inference/thread-layout';

/** The Twitter trace window every run replays: day 2 of the trace, as in `docs/simulation.md`. */
export const DEFAULT_TRACE_START_SECOND = 86_400;
export const DEFAULT_SEED = 20261123;

export const evalSettingsSchema = z.object({
  /** Fixture models to evaluate, by name. */
  models: z.array(z.string().min(1)).min(1),
  /** Offered loads, as fractions of the plain model's capacity measured in the same run. */
  loads: z.array(z.number().gt(0).lte(1.5)).min(1),
  /** SLOs as multiples of the plain model's profiled time for its largest batch; the first is primary. */
  sloMultipliers: z.array(z.number().gt(0)).min(1),
  /** Repeats of each (model, load) cell at the primary SLO; every policy runs once per repeat, interleaved. */
  repeats: z.number().int().positive(),
  /** Repeats at the other SLOs (fewer, to fit the time limit). */
  secondaryRepeats: z.number().int().positive(),
  /** Seconds of trace per serving run. */
  runSeconds: z.number().int().positive(),
  /**
   * Seconds of trace per turn when the policies of a repeat take turns (slices.ts): every policy
   * serves one slice before any serves the next, so the host's slow and fast spells fall on all of
   * them alike; 0 serves each policy's whole run in a row, as runs before the evening of 6 December 2026 did.
   */
  sliceSeconds: z.number().nonnegative(),
  /** Seconds of the closed-loop capacity measurement per model. */
  capacitySeconds: z.number().positive(),
  /**
   * What the loads are fractions of: `served`, the plain model's capacity through the client's
   * channel (served-capacity.ts), which is what this setup can serve; or `worker`, the worker's
   * alone, its closed loop inside the serving process (capacity.ts), as runs before 6 December
   * 2026 used. Both are measured and recorded either way.
   */
  loadBasis: z.enum(['served', 'worker']),
  /** Ramp budgets of the ablation (Apparate at the highest load); [] skips it. */
  ablationBudgets: z.array(z.number().gt(0).lte(0.5)),
  /** Seconds of trace of the noise-drift runs; 0 skips them. */
  driftSeconds: z.number().int().nonnegative(),
  /** The accuracy constraint: least agreement with the plain model Apparate and static early exit must keep. */
  constraint: z.number().gt(0).lte(1),
  /** How often the worker polls the in-memory config store, ms. */
  configPollMs: z.number().int().positive(),
  /**
   * Batches between the live controller's ramp adjustments. A ramp change makes the worker build
   * and warm new sessions, which on two shared cores stalls serving for one to three seconds, and
   * the deployed controller adjusts at most once per scheduled run (a minute); at the small
   * batches of these loads the core default (32 batches) would mean a rebuild every second.
   */
  adjustPeriodBatches: z.number().int().positive(),
  /**
   * The serving process's thread layout (core/inference/thread-layout.ts): inference lanes and
   * operator threads per session; unset counts take the worker's CPU defaults (one lane per core).
   * The plans below leave one core to the client and the serving process's main thread
   * (`CLIENT_SHARED_LANES`).
   */
  inferenceThreads: z.number().int().positive().optional(),
  intraOpThreads: z.number().int().nonnegative().optional(),
  seed: z.number().int().nonnegative(),
  traceStartSecond: z.number().int().nonnegative(),
  /** Trace file; default: the shared Twitter trace beside the checkout. */
  tracePath: z.string().min(1).optional(),
  /** Where bundles are prepared when missing, one folder per model. */
  bundlesDir: z.string().min(1),
  /** Where JSON results and SVG plots go. */
  outDir: z.string().min(1),
  quick: z.boolean(),
});
export type EvalSettings = z.infer<typeof evalSettingsSchema>;

const REPO_ROOT = resolve(__dirname, '..', '..');
/**
 * Reruns go to an ignored folder; the published figures in docs/evaluation are regenerated only on
 * purpose, with `--out docs/evaluation`.
 */
export const DEFAULT_OUT_DIR = resolve(REPO_ROOT, 'bench', 'results', 'e2e');
export const DEFAULT_BUNDLES_DIR = resolve(REPO_ROOT, '.cache', 'bundles');

/**
 * Inference lanes the plans serve with: one per core but one. The client runs on the machine it
 * measures, and an early answer reaches it only once the serving process's main thread has
 * released it and the client's own loop has read it; with a lane on every core both wait for a
 * core the lanes hold. On a two-core host at load 0.7, mnist-resnet's early answers took 5.2 ms
 * from their batch's start to the client with two lanes and 2.1–2.5 ms with one, and Apparate's
 * median win was 3.5% against 27.8% and 12.2% in two runs with one lane (docs/evaluation.md,
 * "Where a request's time goes"). A deployed
 * worker's clients are elsewhere; `--inference-threads` serves with any other count.
 */
export const CLIENT_SHARED_LANES = Math.max(1, availableParallelism() - 1);

/**
 * The full plan: 12 s of trace per run, 3 repeats at the primary SLO and 1 at the other, which
 * with preparation took 25 minutes on two heavily shared cores (see `docs/evaluation.md`).
 */
export const FULL_SETTINGS: EvalSettings = {
  models: ['mnist-resnet', 'spam-bert'],
  loads: [0.5, 0.7],
  sloMultipliers: [2, 4],
  repeats: 3,
  secondaryRepeats: 1,
  runSeconds: 12,
  sliceSeconds: 3,
  capacitySeconds: 4,
  loadBasis: 'served',
  ablationBudgets: [0.02, 0.05, 0.1],
  driftSeconds: 20,
  constraint: 0.99,
  configPollMs: 2000,
  adjustPeriodBatches: 512,
  inferenceThreads: CLIENT_SHARED_LANES,
  seed: DEFAULT_SEED,
  traceStartSecond: DEFAULT_TRACE_START_SECOND,
  bundlesDir: DEFAULT_BUNDLES_DIR,
  outDir: DEFAULT_OUT_DIR,
  quick: false,
};

/** Development plan: a few seconds per run, one repeat, every part still exercised. */
export const QUICK_SETTINGS: EvalSettings = {
  ...FULL_SETTINGS,
  repeats: 1,
  secondaryRepeats: 1,
  runSeconds: 3,
  capacitySeconds: 1.5,
  sloMultipliers: [2],
  ablationBudgets: [0.02, 0.1],
  driftSeconds: 4,
  quick: true,
};

const LIST_OPTIONS = new Set(['models', 'loads', 'slo-multipliers', 'ablation-budgets']);
const NUMBER_OPTIONS = new Set([
  'repeats',
  'secondary-repeats',
  'run-seconds',
  'slice-seconds',
  'capacity-seconds',
  'drift-seconds',
  'constraint',
  'config-poll-ms',
  'adjust-period-batches',
  'inference-threads',
  'intra-op-threads',
  'seed',
  'trace-start-second',
]);
const PATH_OPTIONS = new Set(['trace', 'bundles-dir', 'out']);
const WORD_OPTIONS = new Set(['load-basis']);

function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Parses `--quick` and `--name=value` / `--name value` overrides of the plan. Lists are
 * comma-separated (`--models=spam-bert --loads=0.7`); `--trace` sets the trace file.
 */
export function parseEvalArgs(args: readonly string[]): EvalSettings {
  const quick = args.includes('--quick');
  const overrides: Record<string, unknown> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--quick') continue;
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    const name = match?.[1];
    if (match === null || name === undefined) throw new InputError(`e2e: unexpected argument ${arg}`);
    let value = match[2];
    if (value === undefined) {
      value = args[i + 1];
      i++;
      if (value === undefined) throw new InputError(`e2e: --${name} needs a value`);
    }
    const key = name === 'trace' ? 'tracePath' : name === 'out' ? 'outDir' : camel(name);
    if (LIST_OPTIONS.has(name)) {
      const items = value.split(',').filter((item) => item !== '');
      overrides[key] = name === 'models' ? items : items.map(Number);
    } else if (NUMBER_OPTIONS.has(name)) {
      overrides[key] = Number(value);
    } else if (PATH_OPTIONS.has(name)) {
      overrides[key] = resolve(value);
    } else if (WORD_OPTIONS.has(name)) {
      overrides[key] = value;
    } else {
      const known = [...LIST_OPTIONS, ...NUMBER_OPTIONS, ...PATH_OPTIONS, ...WORD_OPTIONS, 'quick'].join(
        ', ',
      );
      throw new InputError(`e2e: unknown option --${name}; allowed: ${known}`);
    }
  }
  return checkSettings({ ...(quick ? QUICK_SETTINGS : FULL_SETTINGS), ...overrides });
}

/** The thread layout some counts ask for, leaving out the unset ones (the worker's defaults). */
export function layoutOf(counts: {
  readonly inferenceThreads?: number | undefined;
  readonly intraOpThreads?: number | undefined;
}): ThreadLayout {
  return {
    ...(counts.inferenceThreads === undefined ? {} : { inferenceThreads: counts.inferenceThreads }),
    ...(counts.intraOpThreads === undefined ? {} : { intraOpThreads: counts.intraOpThreads }),
  };
}

/** Validates a settings object (from arguments or from a test). */
export function checkSettings(value: unknown): EvalSettings {
  const parsed = evalSettingsSchema.safeParse(value);
  if (!parsed.success) throw new InputError(`e2e settings: ${describeIssues(parsed.error.issues)}`);
  return parsed.data;
}
