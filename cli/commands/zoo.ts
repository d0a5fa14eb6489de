/**
 * `apparate zoo`: lists the fixture models and measures each one here, so a new user sees in one
 * command that the models load, how accurate they are and how fast they run on this machine.
 */
import { listFixtureModels, loadFixtureModel } from '../../core/zoo/fixtures';
import { loadModel, type LoadedModel } from '../../core/model/load-model';
import { measureZooModel, type ZooEntry } from '../../core/zoo/zoo-report';
import { InputError } from '../../core/errors';
import { readTaskProfilesIfAny } from '../../core/fleet/profiles-location';
import type { Command } from '../command';
import { createProgress } from '../progress';

/** A zoo entry with its variant family (the data set its variants share) and, where the family's
 * fleet profiles were measured, one worker's capacity at the family's SLO with exits off. */
type ListedEntry = ZooEntry & {
  family: string | null;
  sloThroughputRps: number | null;
  sloMs: number | null;
};

async function withFleetProfile(entry: ZooEntry, family: string | null): Promise<ListedEntry> {
  const profiles = family === null ? undefined : await readTaskProfilesIfAny(family);
  const variant = profiles?.variants.find((v) => v.name === entry.name);
  const off = variant?.settings.find((s) => s.exits === 'off');
  return {
    ...entry,
    family,
    sloThroughputRps: off?.capacityRps ?? null,
    sloMs: variant && profiles ? profiles.sloMs : null,
  };
}

function formatTable(entries: readonly ListedEntry[]): string {
  const header = [
    'model',
    'family',
    'task',
    'classes',
    'serving',
    'accuracy',
    'recorded',
    'p50 ms @1',
    'p50 ms @8',
    'req/s at SLO',
  ];
  const rows = entries.map((e) => [
    e.name,
    e.family ?? '-',
    e.task,
    String(e.classes.length),
    String(e.servingSamples),
    `${(e.accuracy * 100).toFixed(2)}%`,
    e.recordedAccuracy === null ? '-' : `${(e.recordedAccuracy * 100).toFixed(2)}%`,
    e.latencyMs['1'].toFixed(2),
    e.latencyMs['8'].toFixed(2),
    e.sloThroughputRps === null || e.sloMs === null
      ? '-'
      : `${e.sloThroughputRps.toFixed(0)} @${e.sloMs.toFixed(1)} ms`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ');
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** A fixture name, or a path to a model directory (or its .onnx file) whose model.json names a fixture data set. */
async function resolveModel(nameOrPath: string): Promise<LoadedModel> {
  if (/[\\/.]/.test(nameOrPath)) return loadModel(nameOrPath);
  const known = await listFixtureModels();
  if (!known.some((m) => m.spec.name === nameOrPath)) {
    throw new InputError(
      `unknown fixture model ${nameOrPath}; allowed: ${known.map((m) => m.spec.name).join(', ')} or a path to a model directory`,
    );
  }
  return loadFixtureModel(nameOrPath);
}

export const zooCommand: Command = {
  name: 'zoo',
  summary: 'list the fixture models and their variant families, and measure their accuracy and latency here',
  usage: 'apparate zoo [--json] [--model <name>] [--single-samples <n>]',
  options: {
    json: { type: 'boolean', description: 'print one JSON array instead of a table' },
    model: { type: 'string', description: 'measure only this model: a fixture name or a model directory' },
    'single-samples': {
      type: 'string',
      description: 'samples timed one at a time for the batch-1 median (default 200)',
    },
  },
  async run(values, _positionals, io) {
    const singleSamples = values['single-samples'] === undefined ? 200 : Number(values['single-samples']);
    if (!Number.isInteger(singleSamples) || singleSamples < 1) {
      throw new InputError(
        `--single-samples must be a positive integer, got ${String(values['single-samples'])}`,
      );
    }
    const models =
      typeof values.model === 'string' ? [await resolveModel(values.model)] : await listFixtureModels();
    const progress = createProgress(io);
    const entries: ListedEntry[] = [];
    try {
      for (const model of models) {
        const measured = await measureZooModel(model, {
          singleSamples,
          onProgress: (name, phase, done, total) => progress.update(`${name} ${phase}`, done, total),
        });
        entries.push(await withFleetProfile(measured, model.spec.dataset ?? null));
      }
    } finally {
      progress.stop();
    }
    io.stdout.write(values.json ? `${JSON.stringify(entries, null, 2)}\n` : formatTable(entries));
    return 0;
  },
};
