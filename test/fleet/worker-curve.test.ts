import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readBundle, writeBundle } from '../../core/bundle/bundle-io';
import { costProfileFromManifest } from '../../core/bundle/cost-profile';
import { costsAtBatch } from '../../core/control/costs';
import { measureWorker, workerModelFromBundle, type WorkerModel } from '../../core/fleet/worker-curve';
import { prepareDeterministicFixture } from '../support/deterministic-profile';

describe('one worker of a variant, measured with the per-worker replay', () => {
  let work: string;
  let model: WorkerModel;
  let capacityRps: number;
  const sloMs = 30;

  beforeAll(async () => {
    // Given the medium digits variant prepared as `apparate prepare` would, on a deterministic profile
    work = mkdtempSync(join(tmpdir(), 'apparate-worker-curve-'));
    const fixture = await prepareDeterministicFixture('mnist-resnet-medium');
    await writeBundle(join(work, 'bundle'), fixture.prepared);
    const bundle = await readBundle(join(work, 'bundle'));
    // Ramps (with their cuts) cost a fixed small share of the model, as in the deterministic profile:
    // the bundle's cut costs are measured, and on a busy machine they would decide the placement.
    const measured = costProfileFromManifest(bundle.manifest);
    const profile = {
      ...measured,
      candidates: measured.candidates.map((c) => ({
        ...c,
        rampMs: measured.plainMs.map((ms) => 0.004 * ms),
      })),
    };
    model = await workerModelFromBundle(bundle, fixture.serving, profile, 20261123);
    capacityRps = (1000 * 8) / costsAtBatch(profile, 8).plainMs;
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  const run = (share: number, exits: 'off' | { constraint: number }) =>
    measureWorker(model, { rateRps: share * capacityRps, exits, sloMs, maxBatchSize: 8, passes: 2, seed: 7 });

  it('releases exited answers sooner at the agreement constraint, at the same rate', () => {
    // When one worker is offered half its plain capacity, with exits off and on at 0.99
    const off = run(0.5, 'off');
    const on = run(0.5, { constraint: 0.99 });

    // Then exits lower the median latency, hold agreement near the constraint and cost little accuracy
    expect(off.agreement).toBe(1);
    expect(off.exitRate).toBe(0);
    expect(on.exitRate).toBeGreaterThan(0.3);
    expect(on.latencyMs.p50).toBeLessThan(off.latencyMs.p50);
    expect(on.agreement).toBeGreaterThanOrEqual(0.97);
    expect(on.accuracy).toBeGreaterThan(off.accuracy - 0.02);
    // And the histogram holds every served request of the measured pass
    const served = on.histogram.reduce((s, c) => s + c, 0);
    expect(served).toBe(
      model.all.count -
        model.firstServed -
        Math.round((on.droppedPct / 100) * (model.all.count - model.firstServed)),
    );
  });

  it('violates the SLO more as the offered rate passes the worker capacity', () => {
    const light = run(0.3, 'off');
    const overloaded = run(1.4, 'off');

    expect(light.violationPct).toBeLessThan(1);
    expect(overloaded.violationPct).toBeGreaterThan(10);
    expect(overloaded.throughputRps).toBeLessThan(1.4 * capacityRps);
  });
});
