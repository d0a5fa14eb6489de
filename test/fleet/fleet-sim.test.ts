import { lastPeakForecaster } from '../../core/fleet/forecast';
import { plannerPolicy, staticPolicy, targetTrackingPolicy } from '../../core/fleet/fleet-policies';
import { simulateFleet } from '../../core/fleet/fleet-sim';
import { readTaskProfiles } from '../../core/fleet/profiles-location';
import type { TaskProfiles } from '../../core/fleet/variant-profile';
import { readTrace, traceWindow } from '../../core/workload/trace';
import { sharedTrace } from '../support/traces';

describe('fleet simulator on the digits profiles and the Twitter trace', () => {
  let profiles: TaskProfiles;
  let rate: Float64Array;
  let best: string;
  beforeAll(async () => {
    // Given two hours of the trace scaled so its peak needs eight workers of the most accurate variant
    profiles = await readTaskProfiles('mnist');
    const top = [...profiles.variants].sort((a, b) => b.accuracy - a.accuracy)[0];
    best = top?.name ?? '';
    const capacity = top?.settings.find((s) => s.exits === 'off')?.capacityRps ?? 0;
    const window = traceWindow(await readTrace(sharedTrace()), 15 * 86400, 2 * 3600, { skipZeroGaps: true });
    const peak = Math.max(...window);
    rate = Float64Array.from(window, (c) => (c * 8 * capacity) / peak);
  });
  const run = (
    policy: Parameters<typeof simulateFleet>[0],
    failures?: { variant: string; fromSecond: number }[],
  ) =>
    simulateFleet(policy, {
      profiles,
      ratePerSecond: rate,
      intervalSeconds: 60,
      workerStartSeconds: 30,
      ...(failures ? { failures } : {}),
    });

  it('serves the peak with the statically provisioned fleet and costs it every hour', () => {
    const result = run(staticPolicy(profiles, 12));

    // Then eight workers run for two hours, nothing is reconfigured and nearly nothing is late
    expect(result.workerHours).toBeCloseTo(16, 6);
    expect(result.reconfigurations).toBe(0);
    expect(result.sloViolationPct).toBeLessThan(1);
    expect(result.latencyMs.p95).toBeLessThanOrEqual(profiles.sloMs);
  });

  it('costs less when it scales with the load', () => {
    const fixed = run(staticPolicy(profiles, 12));
    const reactive = run(targetTrackingPolicy('reactive', profiles, 'off', 12));
    const planned = run(
      plannerPolicy('combined', profiles, lastPeakForecaster, { maxWorkers: 12 }, { exits: true }),
    );

    expect(reactive.workerHours).toBeLessThan(fixed.workerHours);
    expect(planned.workerHours).toBeLessThan(fixed.workerHours);
    expect(planned.reconfigurations).toBeGreaterThan(0);
    expect(planned.accuracy).toBeGreaterThan(0.9);
  });

  it('re-plans without a variant that fails to load and retires its workers', () => {
    // Given the most accurate variant's workers fail to load from minute 30 on
    const result = run(
      plannerPolicy('combined', profiles, lastPeakForecaster, { maxWorkers: 12 }, { exits: true }),
      [{ variant: best, fromSecond: 1800 }],
    );

    // Then within a few minutes of the failure none of its workers is left, and the fleet still serves
    const after = result.timeline.filter((p) => p.second >= 1800 + 300);
    expect(after.length).toBeGreaterThan(0);
    for (const point of after) expect(point.mix[best] ?? 0).toBe(0);
    expect(after.every((p) => p.servingCapacityRps > 0)).toBe(true);
    expect(result.sloViolationPct).toBeLessThan(10);
  });
});
