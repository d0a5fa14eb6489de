import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { z } from 'zod';

const BIN = join(__dirname, '..', '..', 'bin', 'apparate.js');

const entrySchema = z.object({
  name: z.string(),
  task: z.enum(['image-classification', 'text-classification']),
  classes: z.array(z.string()),
  inputs: z.array(
    z.object({ name: z.string(), dtype: z.string(), shape: z.array(z.union([z.string(), z.number()])) }),
  ),
  servingSamples: z.number().int().positive(),
  accuracy: z.number(),
  latencyMs: z.object({ '1': z.number().positive(), '8': z.number().positive() }),
  family: z.string().nullable(),
  sloThroughputRps: z.number().positive().nullable(),
  sloMs: z.number().positive().nullable(),
});

describe('apparate zoo --json', () => {
  it('prints one JSON array with measured accuracy and latency for each fixture model', () => {
    // When the real executable measures the fixtures
    const result = spawnSync(process.execPath, [BIN, 'zoo', '--json', '--single-samples', '20'], {
      encoding: 'utf8',
      timeout: 300_000,
    });

    // Then stdout is exactly one JSON array with an entry per fixture
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const entries = z.array(entrySchema).parse(JSON.parse(result.stdout));
    expect(entries.map((e) => e.name)).toEqual([
      'mnist-resnet',
      'mnist-resnet-medium',
      'mnist-resnet-small',
      'spam-bert',
      'spam-bert-medium',
      'spam-bert-small',
    ]);
    const mnist = entries.find((e) => e.name === 'mnist-resnet');
    const spam = entries.find((e) => e.name === 'spam-bert');
    expect(mnist?.classes).toHaveLength(10);
    expect(mnist?.servingSamples).toBe(4000);
    expect(mnist?.accuracy).toBeGreaterThanOrEqual(0.98);
    expect(spam?.classes).toEqual(['ham', 'spam']);
    expect(spam?.accuracy).toBeGreaterThanOrEqual(0.95);
    // Variants are grouped by the data set they share; the digits family's committed profiles give
    // each member its measured capacity at the family's SLO, the cheaper variants more.
    expect(new Set(entries.map((e) => e.family))).toEqual(new Set(['mnist', 'spam']));
    const digits = entries.filter((e) => e.family === 'mnist');
    for (const entry of digits) expect(entry.sloThroughputRps).not.toBeNull();
    const capacity = (name: string) => digits.find((e) => e.name === name)?.sloThroughputRps ?? 0;
    expect(capacity('mnist-resnet-small')).toBeGreaterThan(capacity('mnist-resnet-medium'));
    expect(capacity('mnist-resnet-medium')).toBeGreaterThan(capacity('mnist-resnet'));
    // Eight inputs take longer to run than one: the timings are real runs, not placeholders.
    for (const entry of entries) expect(entry.latencyMs['8']).toBeGreaterThan(entry.latencyMs['1']);
  });
});
