import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { runEvaluation } from '../../bench/e2e';
import { checkSettings, QUICK_SETTINGS } from '../../bench/eval/settings';
import { writeBundle } from '../../core/bundle/bundle-io';
import { prepareDeterministicFixture } from '../support/deterministic-profile';
import { sharedTrace } from '../support/traces';

/** The record `docs/evaluation/summary.json` must hold, field by field, as issue 8 fixes it. */
const quantiles = z.object({ p25: z.number(), p50: z.number(), p95: z.number() }).strict();
const summarySchema = z.array(
  z
    .object({
      model: z.string(),
      policy: z.string(),
      load: z.number(),
      latencyMs: quantiles,
      winsVsPlainPct: quantiles,
      agreement: z.number().min(0).max(1),
      worstWindowAgreement: z.number().min(0).max(1),
      throughputRatio: z.number(),
      fractionOfOptimal: z.number().nullable(),
    })
    .strict(),
);

describe('npm run bench -- e2e --quick', () => {
  let work: string;
  let fixture: Awaited<ReturnType<typeof prepareDeterministicFixture>>;

  beforeAll(async () => {
    // Given a bundle of the real mnist-resnet fixture (deterministic profile) in a scratch folder
    work = mkdtempSync(join(tmpdir(), 'apparate-e2e-'));
    fixture = await prepareDeterministicFixture('mnist-resnet');
    await writeBundle(join(work, 'bundles', 'mnist-resnet'), fixture.prepared);
  }, 300_000);

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('serves every policy on the real worker and writes a summary with the documented schema', async () => {
    // When the quick evaluation runs end to end on one model and one load, into a temporary folder
    const outDir = join(work, 'evaluation');
    const lines: string[] = [];
    const settings = checkSettings({
      ...QUICK_SETTINGS,
      models: ['mnist-resnet'],
      loads: [0.5],
      runSeconds: 2,
      sliceSeconds: 1,
      capacitySeconds: 1,
      ablationBudgets: [0.1],
      driftSeconds: 2,
      tracePath: sharedTrace(),
      bundlesDir: join(work, 'bundles'),
      outDir,
    });
    await runEvaluation(settings, (line) => lines.push(line));

    // Then summary.json holds one well-formed record per policy at that load
    const summary = summarySchema.parse(JSON.parse(readFileSync(join(outDir, 'summary.json'), 'utf8')));
    expect(summary.map((r) => `${r.model} ${r.policy} ${r.load}`).sort()).toEqual([
      'mnist-resnet apparate 0.5',
      'mnist-resnet optimal 0.5',
      'mnist-resnet plain 0.5',
      'mnist-resnet static 0.5',
    ]);
    // And the plots, tables and full results are written beside it, with progress printed on the way
    for (const file of [
      'results.json',
      'tables.md',
      'latency-cdf-mnist-resnet-load0.5.svg',
      'wins-per-load-slo2x.svg',
      'agreement-drift-mnist-resnet.svg',
      'ablation.svg',
    ]) {
      expect(existsSync(join(outDir, file))).toBe(true);
    }
    expect(lines.some((line) => line.includes('capacity'))).toBe(true);
    // And the model's record holds both capacities, the loads being fractions of the one through the client
    const results = z
      .object({
        models: z.array(
          z
            .object({
              loadBasis: z.literal('served'),
              capacity: z.object({ rps: z.number() }).passthrough(),
              workerCapacity: z.object({ rps: z.number().positive() }).passthrough(),
              servedCapacity: z.object({ rps: z.number().positive() }).passthrough(),
            })
            .passthrough(),
        ),
      })
      .passthrough()
      .parse(JSON.parse(readFileSync(join(outDir, 'results.json'), 'utf8')));
    const record = results.models[0];
    expect(record?.capacity.rps).toBe(record?.servedCapacity.rps);
    // And every served run says where its CPU went, per request: the lanes did the model's work,
    // the serving process's main thread and the client some; the replayed optimal served nothing
    const cpu = z.object({ main: z.number(), lanes: z.number(), other: z.number(), client: z.number() });
    const runs = z
      .object({
        runs: z.array(
          z
            .object({
              policy: z.string(),
              load: z.number(),
              cpuMsPerRequest: cpu.nullable(),
              paddingShare: z.number().min(0).lt(1),
              latencyParts: z.object({
                waitP50Ms: z.number().nonnegative(),
                inBatchP50Ms: z.number().positive(),
                batchMsPerRequest: z.number().positive(),
                deliveryP50Ms: z.number().optional(),
              }),
              rampSets: z.array(z.array(z.string())),
              // served in 1 s slices, each on its own clock: latencies stay on the plan's timeline
              latencyMs: z.object({ p25: z.number().nonnegative(), p95: z.number().lt(5000) }).passthrough(),
            })
            .passthrough(),
        ),
      })
      .passthrough()
      .parse(JSON.parse(readFileSync(join(outDir, 'results.json'), 'utf8')))
      .runs.filter((run) => run.load === 0.5);
    const served = runs.filter((run) => run.policy !== 'optimal');
    expect(runs.filter((run) => run.policy === 'optimal').map((run) => run.cpuMsPerRequest)).toEqual([null]);
    for (const run of served) {
      expect(run.cpuMsPerRequest?.lanes).toBeGreaterThan(0);
      expect(run.cpuMsPerRequest?.main).toBeGreaterThan(0);
      expect(run.cpuMsPerRequest?.client).toBeGreaterThan(0);
    }
    expect(runs.map((run) => run.policy).sort()).toEqual(['apparate', 'optimal', 'plain', 'static']);
    // And each says where its requests' time went: the replayed optimal runs the plain model's
    // batches, so its requests wait exactly as long and release no later within their batch
    const partsOf = (policy: string) => runs.find((run) => run.policy === policy)?.latencyParts;
    expect(partsOf('optimal')?.waitP50Ms).toBe(partsOf('plain')?.waitP50Ms);
    expect(partsOf('optimal')?.batchMsPerRequest).toBe(partsOf('plain')?.batchMsPerRequest);
    expect(partsOf('optimal')?.inBatchP50Ms).toBeLessThanOrEqual(partsOf('plain')?.inBatchP50Ms ?? 0);
    // And each served policy's answers were timed on their way out of the serving process too:
    // part of the time in the batch, on clocks that agree across the two processes
    expect(partsOf('optimal')?.deliveryP50Ms).toBeUndefined();
    for (const run of served) {
      expect(run.latencyParts.deliveryP50Ms).toBeGreaterThan(-0.5);
      expect(run.latencyParts.deliveryP50Ms).toBeLessThanOrEqual(run.latencyParts.inBatchP50Ms);
    }
    // And each says which ramp sets it served: none for the plain model, Apparate's starting from
    // the bundle's initial ramps, nothing for the replayed optimal
    const setsOf = (policy: string) => runs.find((run) => run.policy === policy)?.rampSets;
    expect(setsOf('plain')).toEqual([[]]);
    expect(setsOf('optimal')).toEqual([]);
    expect(setsOf('apparate')?.[0]).toEqual(fixture.prepared.manifest.initialConfig.ramps.map((r) => r.id));
    // And each win in the main table carries a confidence interval of its median and its coverage
    const tables = readFileSync(join(outDir, 'tables.md'), 'utf8');
    expect(tables).toMatch(/\| -?\d+\.\d% \[-?\d+\.\d% – -?\d+\.\d%, \d+%\] \|/);
  }, 300_000);
});
