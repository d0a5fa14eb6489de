/**
 * The options `serve` and `demo` share (the demo starts a stack when none is running), read once
 * into `LocalStackOptions`, so both commands accept the same flags with the same checks.
 */
import { resolve } from 'node:path';
import { readBundle } from '../../core/bundle/bundle-io';
import { InputError } from '../../core/errors';
import { ZOO_DIR } from '../../core/zoo/fixtures';
import { MOBY_GPT_DIR } from '../../core/generate/fixture';
import type { OptionSpec } from '../command';
import { numberOption } from '../options';
import { readThreadLayout, THREAD_OPTIONS } from '../thread-options';
import type { Progress } from '../progress';
import type { FixtureBundle } from './fixture-bundles';
import type { LocalStackOptions } from './local-stack';
import { ACCURACY_CONSTRAINT, RAMP_BUDGET } from '../../core/control/limits';

/** The repository's ignored cache folder; bundles and dynalite data live under it. */
export const CACHE_DIR = resolve(ZOO_DIR, '..', '.cache');
export const FIXTURE_MODELS = ['mnist-resnet', 'spam-bert'] as const;
/** Generative fixtures the stack can serve at /v1/models/{model}/generate, by name. */
export const GENERATIVE_FIXTURES: Readonly<Record<string, string>> = { 'moby-gpt': MOBY_GPT_DIR };

export const STACK_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  port: { type: 'string', description: 'HTTP port (default 3000; 0 picks a free one)' },
  host: { type: 'string', description: 'address to listen on (default 127.0.0.1)' },
  models: {
    type: 'string',
    description: `comma-separated fixture models (default ${FIXTURE_MODELS.join(',')})`,
  },
  generative: {
    type: 'string',
    description: `comma-separated generative fixtures served at /v1/models/{model}/generate (default ${Object.keys(GENERATIVE_FIXTURES).join(',')}; none: no generation)`,
  },
  'data-dir': {
    type: 'string',
    description: 'where dynalite keeps its data and the log goes (default .cache/local)',
  },
  'in-memory': { type: 'boolean', description: 'keep tables in memory instead of on disk' },
  'redis-url': {
    type: 'string',
    description: 'use BullMQ on this Redis (default $REDIS_URL; unset: in-process queue)',
  },
  'controller-period-ms': { type: 'string', description: 'how often the controller runs (default 10000)' },
  'config-poll-ms': { type: 'string', description: 'how often workers look for a new config (default 1000)' },
  accuracy: {
    type: 'string',
    description: 'accuracy constraint, agreement with the full model (default 0.99)',
  },
  'ramp-budget': {
    type: 'string',
    description:
      'latency ramps (with their cuts) may add, as a fraction (default 0.02); bundles are placed with it',
  },
  repeats: { type: 'string', description: 'timed runs per profile when preparing bundles (default 15)' },
  'admission-headroom': {
    type: 'string',
    description:
      'fraction of its deadline a request may expect to wait before it is refused with 429 (default 1)',
  },
  ...THREAD_OPTIONS,
};

/** Reads the shared options; throws InputError naming the bad flag and what is allowed. */
export function readStackOptions(
  values: Record<string, string | boolean | undefined>,
  progress: Progress,
): LocalStackOptions {
  const models =
    typeof values.models === 'string'
      ? values.models
          .split(',')
          .map((m) => m.trim())
          .filter((m) => m.length > 0)
      : [...FIXTURE_MODELS];
  const unknown = models.filter((m) => !(FIXTURE_MODELS as readonly string[]).includes(m));
  if (models.length === 0 || unknown.length > 0) {
    throw new InputError(
      `--models must list fixture models from ${FIXTURE_MODELS.join(', ')}, got ${JSON.stringify(values.models)}`,
    );
  }
  const generative =
    typeof values.generative === 'string'
      ? values.generative
          .split(',')
          .map((m) => m.trim())
          .filter((m) => m.length > 0 && m !== 'none')
      : Object.keys(GENERATIVE_FIXTURES);
  const unknownGenerative = generative.filter((m) => GENERATIVE_FIXTURES[m] === undefined);
  if (unknownGenerative.length > 0)
    throw new InputError(
      `--generative must list generative fixtures from ${Object.keys(GENERATIVE_FIXTURES).join(', ')} (or none), got ${JSON.stringify(values.generative)}`,
    );
  const redisUrl =
    typeof values['redis-url'] === 'string' ? values['redis-url'] : process.env['REDIS_URL'] || undefined;
  return {
    host: typeof values.host === 'string' ? values.host : '127.0.0.1',
    port: numberOption(values, 'port', {
      default: 3000,
      min: 0,
      minInclusive: true,
      max: 65535,
      integer: true,
    }),
    dataDir:
      typeof values['data-dir'] === 'string' ? resolve(values['data-dir']) : resolve(CACHE_DIR, 'local'),
    inMemory: values['in-memory'] === true,
    bundleCacheDir: resolve(CACHE_DIR, 'bundles'),
    models,
    generativeModels: generative.map((m) => GENERATIVE_FIXTURES[m] as string),
    ...(redisUrl === undefined ? {} : { redisUrl }),
    controllerPeriodMs: numberOption(values, 'controller-period-ms', {
      default: 10_000,
      min: 100,
      minInclusive: true,
      max: 3_600_000,
      integer: true,
    }),
    configPollMs: numberOption(values, 'config-poll-ms', {
      default: 1000,
      min: 10,
      minInclusive: true,
      max: 600_000,
      integer: true,
    }),
    accuracyConstraint: numberOption(values, 'accuracy', ACCURACY_CONSTRAINT),
    rampBudget: numberOption(values, 'ramp-budget', RAMP_BUDGET),
    prepareRepeats: numberOption(values, 'repeats', {
      default: 15,
      min: 1,
      minInclusive: true,
      max: 1000,
      integer: true,
    }),
    admissionHeadroom: numberOption(values, 'admission-headroom', { default: 1, min: 0, max: 100 }),
    threadLayout: readThreadLayout(values),
    progress,
  };
}

/** `serve --bundle`: the user's own prepared bundles. */
export const BUNDLE_OPTION: OptionSpec = {
  type: 'string',
  description:
    'serve these prepared bundles (comma-separated directories, from apparate prepare) instead of the fixture models',
};

/**
 * The bundles `--bundle` names, each read and checked as a worker would load it; undefined when
 * the option is absent (the stack then serves the fixture models).
 */
export async function readBundleOption(
  values: Record<string, string | boolean | undefined>,
): Promise<FixtureBundle[] | undefined> {
  if (typeof values['bundle'] !== 'string') return undefined;
  const dirs = values['bundle']
    .split(',')
    .map((dir) => dir.trim())
    .filter((dir) => dir.length > 0);
  if (dirs.length === 0) throw new InputError('--bundle must name at least one bundle directory');
  if (values['models'] !== undefined) {
    throw new InputError(
      '--bundle serves the bundles it names; leave out --models, which picks fixture models',
    );
  }
  const bundles = await Promise.all(
    dirs.map(async (dir) => {
      const bundle = await readBundle(resolve(dir));
      return { model: bundle.manifest.model.name, dir: bundle.dir, prepared: false };
    }),
  );
  const names = bundles.map((b) => b.model);
  const twice = names.find((name, i) => names.indexOf(name) !== i);
  if (twice !== undefined)
    throw new InputError(`--bundle names two bundles of model ${twice}; serve one per model`);
  return bundles;
}
