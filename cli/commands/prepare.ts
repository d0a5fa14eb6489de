/**
 * `apparate prepare`: turns a model into an EE bundle (candidates, trained ramps, latency profile,
 * initial configuration). The destination is checked first and written atomically last, so a
 * mistake costs seconds, not minutes, and an interruption leaves nothing half-written.
 */
import { assertFreshDestination } from '../../core/bundle/atomic-dir';
import type { BundleManifest } from '../../core/bundle/manifest';
import { DEFAULT_PREPARE, validatePrepareOptions } from '../../core/prepare/prepare-model';
import type { Command } from '../command';
import { INPUT_SHAPE_OPTION, inputShapeOption, numberOption, requiredString } from '../options';
import { prepareBundle } from '../../core/prepare/prepare-bundle';
import { createProgress } from '../progress';
import { RAMP_BUDGET } from '../../core/control/limits';

/**
 * The share of the user's own samples ramps train on: all of them but a sliver (the fraction must
 * stay below 1), since samples given for preparation are worth nothing held back.
 */
const SAMPLES_BOOTSTRAP_FRACTION = 0.99;

/** The machine-readable summary `prepare --json` prints. */
export function prepareSummary(manifest: BundleManifest, bundle: string) {
  return {
    model: manifest.model.name,
    bundle,
    candidates: manifest.candidates.map((c) => ({
      id: c.id,
      tensor: c.tensor,
      latencyFraction: c.latencyFraction,
      rampAgreement: c.ramp.validationAgreement,
      rampMember: c.ramp.member,
    })),
    initialRamps: manifest.initialConfig.ramps.map((r) => r.id),
    ...(manifest.initialRelease ? { initialRelease: manifest.initialRelease } : {}),
    profile: { batchSizes: manifest.profile.batchSizes, plainMs: manifest.profile.plainMs },
    sliceCheck: { maxAbsDiff: manifest.sliceCheck.maxAbsDiff },
  };
}

function formatSummary(summary: ReturnType<typeof prepareSummary>): string {
  const lines = [`bundle for ${summary.model} written to ${summary.bundle}`, ''];
  lines.push(
    `${'id'.padEnd(5)}${'latency'.padStart(9)}${'agreement'.padStart(11)}  ${'ramp'.padEnd(11)}tensor`,
  );
  for (const c of summary.candidates) {
    const mark = summary.initialRamps.includes(c.id) ? '*' : ' ';
    lines.push(
      `${(c.id + mark).padEnd(5)}${(c.latencyFraction * 100).toFixed(1).padStart(8)}%${(c.rampAgreement * 100).toFixed(1).padStart(10)}%  ${c.rampMember.padEnd(11)}${c.tensor}`,
    );
  }
  lines.push('', `* initial ramps: ${summary.initialRamps.join(', ') || 'none fit the budget'}`);
  if (summary.initialRelease) {
    const { share, agreement } = summary.initialRelease;
    lines.push(
      `  together they release ${(share * 100).toFixed(1)}% of the bootstrap inputs at ${(agreement * 100).toFixed(1)}% agreement (each input judged by ramps not trained on it)`,
    );
  }
  lines.push(
    `plain model: ${summary.profile.batchSizes.map((b, i) => `${(summary.profile.plainMs[i] ?? 0).toFixed(2)} ms @${b}`).join(', ')}`,
  );
  lines.push(
    `slices reproduce the model to ${summary.sliceCheck.maxAbsDiff.toExponential(2)} (max abs diff)`,
  );
  return `${lines.join('\n')}\n`;
}

export const prepareCommand: Command = {
  name: 'prepare',
  summary: 'build an EE bundle: candidates, trained ramps, latency profile, initial config',
  usage:
    'apparate prepare --model <dir-or-onnx> --out <dir> [--samples <folder | file.jsonl | text file>] [--input-shape NAME=D1,D2,...] [--bootstrap-fraction 0.1] [--ramp-budget 0.02] [--json]',
  options: {
    model: { type: 'string', description: 'model directory with model.json (or its .onnx file)' },
    out: { type: 'string', description: 'bundle directory to create (must not exist)' },
    samples: {
      type: 'string',
      description:
        'your own sample inputs to bootstrap on instead of a fixture data set: a folder of PNG/JPEG images, a .jsonl file (one input a line) or a text file (one text a line)',
    },
    'input-shape': INPUT_SHAPE_OPTION,
    'bootstrap-fraction': {
      type: 'string',
      description: `leading fraction of the serving stream ramps train on (default ${DEFAULT_PREPARE.bootstrapFraction}; with --samples ${SAMPLES_BOOTSTRAP_FRACTION})`,
    },
    'ramp-budget': {
      type: 'string',
      description: 'latency ramps may add to a non-exiting input, as a fraction (default 0.02)',
    },
    repeats: { type: 'string', description: 'timed runs per profile measurement (default 15)' },
    json: { type: 'boolean', description: 'print a JSON summary instead of a table' },
  },
  async run(values, _positionals, io) {
    const location = requiredString(values, 'model', 'dir-or-onnx');
    const out = requiredString(values, 'out', 'dir');
    const inputShapes = inputShapeOption(values);
    const samples = typeof values['samples'] === 'string' ? values['samples'] : undefined;
    const bootstrapFraction = numberOption(values, 'bootstrap-fraction', {
      default: samples === undefined ? DEFAULT_PREPARE.bootstrapFraction : SAMPLES_BOOTSTRAP_FRACTION,
      min: 0,
      max: 0.99,
    });
    const rampBudget = numberOption(values, 'ramp-budget', RAMP_BUDGET);
    const repeats = numberOption(values, 'repeats', {
      default: 15,
      min: 1,
      minInclusive: true,
      max: 1000,
      integer: true,
    });
    validatePrepareOptions({ bootstrapFraction, rampBudget });
    assertFreshDestination(out);
    const progress = createProgress(io);
    try {
      const manifest = await prepareBundle(
        location,
        out,
        {
          bootstrapFraction,
          rampBudget,
          repeats,
          ...(inputShapes ? { inputShapes } : {}),
          ...(samples === undefined ? {} : { samples }),
        },
        progress,
      );
      progress.stop();
      const summary = prepareSummary(manifest, out);
      io.stdout.write(values.json ? `${JSON.stringify(summary, null, 2)}\n` : formatSummary(summary));
      return 0;
    } finally {
      progress.stop();
    }
  },
};
