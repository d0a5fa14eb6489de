/**
 * `apparate simulate`: what-if analysis of a prepared model. Replays the serving stream under each
 * policy with arrivals from a real trace (or Poisson) at a chosen load, the batching policy the
 * worker uses, and the control loops running online, then compares latency, agreement, drops and
 * throughput against the plain model measured in the same run.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readBundle } from '../../core/bundle/bundle-io';
import { BATCH_FILLS, type BatchFill } from '../../core/batching/clockwork';
import { BATCHING_POLICY_NAMES, type BatchingPolicyName } from '../../core/batching/policy';
import { InputError } from '../../core/errors';
import type { DriftKind } from '../../core/simulator/drift';
import {
  agreementSvg,
  formatTable,
  latencyCdfSvg,
  markdownTable,
  policyRecords,
} from '../../core/simulator/report';
import { SERVING_POLICY_NAMES, type ServingPolicyName } from '../../core/simulator/serving-policies';
import { simulate } from '../../core/simulator/simulate';
import { loadFixtureModel, loadModelData } from '../../core/zoo/fixtures';
import type { Command } from '../command';
import { numberOption, requiredString } from '../options';
import { createProgress } from '../progress';
import { ACCURACY_CONSTRAINT } from '../../core/control/limits';

function oneOf<T extends string>(value: unknown, allowed: readonly T[], option: string, fallback: T): T {
  if (value === undefined) return fallback;
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw new InputError(
    `--${option} must be one of ${allowed.join(', ')}, got ${typeof value === 'string' ? value : JSON.stringify(value)}`,
  );
}

export const simulateCommand: Command = {
  name: 'simulate',
  summary: 'replay a bundle’s serving stream under Apparate and the baselines',
  usage:
    'apparate simulate --bundle <dir> [--policy apparate|plain|optimal|online-optimal|static|all] [--trace <file> --trace-start <s> --trace-seconds <n>] [--load 0.7] [--batching clockwork|tfserving] [--batch-fill largest|throughput] [--slo-ms <n>] [--accuracy 0.99] [--drift none|noise] [--seed <n>] [--out <dir>] [--json]',
  options: {
    bundle: { type: 'string', description: 'bundle directory written by `apparate prepare`' },
    policy: { type: 'string', description: 'policy to run besides the plain model, or all (default all)' },
    trace: { type: 'string', description: 'arrival-rate trace: one count per second, text or .tbz2' },
    'trace-start': { type: 'string', description: 'first trace second to replay (default 0)' },
    'trace-seconds': {
      type: 'string',
      description: 'trace seconds to replay (default: one pass over the stream)',
    },
    load: {
      type: 'string',
      description: "mean arrival rate as a fraction of the plain model's capacity (default 0.7)",
    },
    batching: { type: 'string', description: 'batching policy: clockwork or tfserving (default clockwork)' },
    'batch-fill': {
      type: 'string',
      description:
        'clockwork: largest (every request that fits, padded up) or throughput (the fill serving most requests a ms) (default largest)',
    },
    'slo-ms': {
      type: 'string',
      description: 'per-request deadline (default: twice the plain batch-32 time)',
    },
    accuracy: {
      type: 'string',
      description: 'accuracy constraint: least agreement with the full model, in (0.5, 1] (default 0.99)',
    },
    drift: {
      type: 'string',
      description: 'none, or noise: the second half of the stream made harder (default none)',
    },
    seed: { type: 'string', description: 'seed for arrivals and drift (default 20261123)' },
    out: { type: 'string', description: 'directory for a Markdown table, JSON and SVG figures' },
    json: { type: 'boolean', description: 'print JSON records instead of a table' },
  },
  async run(values, _positionals, io) {
    const bundleDir = requiredString(values, 'bundle', 'dir');
    if (values.policy === 'vanilla') {
      // The model without ramps was called "vanilla" before the project settled on one name for it.
      throw new InputError('--policy vanilla is now called plain: use --policy plain');
    }
    const policyValue = oneOf(values.policy, [...SERVING_POLICY_NAMES, 'all'] as const, 'policy', 'all');
    const policies: ServingPolicyName[] = policyValue === 'all' ? [...SERVING_POLICY_NAMES] : [policyValue];
    const batching = oneOf<BatchingPolicyName>(
      values.batching,
      BATCHING_POLICY_NAMES,
      'batching',
      'clockwork',
    );
    const batchFill = oneOf<BatchFill>(values['batch-fill'], BATCH_FILLS, 'batch-fill', 'largest');
    if (batchFill !== 'largest' && batching !== 'clockwork') {
      throw new InputError(`--batch-fill applies to --batching clockwork only, got --batching ${batching}`);
    }
    const drift = oneOf<DriftKind>(values.drift, ['none', 'noise'], 'drift', 'none');
    const load = numberOption(values, 'load', { default: 0.7, min: 0, max: 2 });
    const accuracyConstraint = numberOption(values, 'accuracy', ACCURACY_CONSTRAINT);
    const seed = numberOption(values, 'seed', {
      default: 20261123,
      min: 0,
      minInclusive: true,
      integer: true,
    });
    const sloMs =
      values['slo-ms'] === undefined ? undefined : numberOption(values, 'slo-ms', { default: 0, min: 0 });
    if (
      (values['trace-start'] !== undefined || values['trace-seconds'] !== undefined) &&
      values.trace === undefined
    ) {
      throw new InputError('--trace-start and --trace-seconds need --trace <file>');
    }
    const trace =
      typeof values.trace === 'string'
        ? {
            path: values.trace,
            startSecond: numberOption(values, 'trace-start', {
              default: 0,
              min: 0,
              minInclusive: true,
              integer: true,
            }),
            ...(values['trace-seconds'] === undefined
              ? {}
              : { seconds: numberOption(values, 'trace-seconds', { default: 1, min: 0, integer: true }) }),
          }
        : undefined;
    const bundle = await readBundle(bundleDir);
    const stream = await loadModelData(await loadFixtureModel(bundle.manifest.model.name), 'serving');
    const progress = createProgress(io);
    let result;
    try {
      result = await simulate(bundle, stream, {
        policies,
        load,
        batching,
        batchFill,
        accuracyConstraint,
        drift,
        seed,
        ...(sloMs === undefined ? {} : { sloMs }),
        ...(trace ? { trace } : {}),
        onProgress: (phase, done, total) => progress.update(phase, done, total),
      });
    } finally {
      progress.stop();
    }
    if (typeof values.out === 'string') {
      await mkdir(values.out, { recursive: true });
      await writeFile(join(values.out, 'simulation.md'), markdownTable(result));
      await writeFile(
        join(values.out, 'simulation.json'),
        `${JSON.stringify({ settings: result.settings, policies: policyRecords(result) }, null, 2)}\n`,
      );
      await writeFile(join(values.out, 'latency-cdf.svg'), latencyCdfSvg(result));
      await writeFile(join(values.out, 'agreement.svg'), agreementSvg(result));
    }
    io.stdout.write(
      values.json ? `${JSON.stringify(policyRecords(result), null, 2)}\n` : formatTable(result),
    );
    return 0;
  },
};
