/**
 * `apparate demo --fleet`, shortened: four trace hours of the synthetic day (the replay a clean
 * clone falls back to), one second each, a few requests a second, against a local stack with real
 * bundles of the three digits variants and real workers. From the demo's own report, read from the
 * answers the stack gave and the pool's record: every request is answered, and once; the pool grows
 * when the forecast does and holds each plan's workers; each hour's answers come from the variants
 * in the plan's proportions.
 */
import { runFleetDemo, type FleetDemoReport } from '../../../cli/stack/fleet-demo';
import { SYNTHETIC_TRACE_NAME, syntheticTrace } from '../../../core/workload/synthetic-trace';
import { testStackOptions } from '../../support/local-stack';
import { workerFixture } from '../../worker/worker-fixtures';

jest.setTimeout(300_000);

const VARIANTS = ['mnist-resnet', 'mnist-resnet-medium', 'mnist-resnet-small'];

let report: FleetDemoReport;

beforeAll(async () => {
  const bundles = [];
  for (const model of VARIANTS) {
    bundles.push({ model, dir: (await workerFixture(model)).bundle.dir, prepared: false });
  }
  report = await runFleetDemo({
    // The demo follows each plan itself and overrides the polls; the rest are the tests' usual options.
    stack: testStackOptions('fleet-demo', { models: VARIANTS, bundles }),
    trace: { counts: syntheticTrace(), name: SYNTHETIC_TRACE_NAME },
    startDay: 1,
    hours: 4,
    intervalSeconds: 1,
    peakRps: 12,
    // The morning's rise needs one worker at first and two by the third hour.
    peakWorkers: 30,
    maxWorkers: 4,
    // Generous: the shared machine may be busy, and a late answer is still an answer.
    deadlineMs: 20_000,
  });
});

const totalWorkers = (counts: Readonly<Record<string, { workers: number } | number>>): number =>
  Object.values(counts).reduce<number>((sum, c) => sum + (typeof c === 'number' ? c : c.workers), 0);

describe('the fleet demo on a compressed morning', () => {
  it('answers every request, each exactly once', () => {
    expect(report.intervals).toHaveLength(4);
    expect(report.requests).toBe(report.intervals.reduce((sum, row) => sum + row.sent, 0));
    expect(report.requests).toBeGreaterThan(20);
    expect(report.failed).toBe(0);
    // Each answer names its own request, and the workers served each request once
    expect(report.distinctAnswered).toBe(report.requests);
    expect(report.served).toBe(report.requests);
    for (const row of report.intervals) {
      expect(Object.values(row.answered).reduce((a, b) => a + b, 0)).toBe(row.sent);
    }
  });

  it('plans more workers as the forecast rises, and the pool has them once the traffic moves', () => {
    const [first] = report.intervals;
    const busiest = [...report.intervals].sort((a, b) => b.forecastRps - a.forecastRps)[0];
    expect(busiest!.forecastRps).toBeGreaterThan(first!.forecastRps);
    expect(totalWorkers(busiest!.plan)).toBeGreaterThan(totalWorkers(first!.plan));
    for (const row of report.intervals) {
      for (const [variant, { workers }] of Object.entries(row.plan)) {
        // Workers are started before the traffic moves; removed ones may still be draining.
        expect(row.poolWhenFollowed[variant] ?? 0).toBeGreaterThanOrEqual(workers);
      }
    }
    // And the pool's record over the replay shows it growing
    const allWorkers = Object.values(report.workersOverTime);
    const sizes = (allWorkers[0] ?? []).map((_, i) =>
      allWorkers.reduce((sum, s) => sum + (s[i]?.[1] ?? 0), 0),
    );
    expect(Math.max(...sizes)).toBeGreaterThanOrEqual(totalWorkers(busiest!.plan));
  });

  it("serves each hour's requests from the variants in the plan's proportions", () => {
    for (const row of report.intervals) {
      for (const [variant, { weight }] of Object.entries(row.plan)) {
        // Within two requests of the plan's share: requests are dispatched in order by the weights.
        expect(Math.abs((row.answered[variant] ?? 0) - weight * row.sent)).toBeLessThanOrEqual(2);
      }
    }
    // And the mix did change over the morning
    const mixes = new Set(report.intervals.map((row) => JSON.stringify(row.plan)));
    expect(mixes.size).toBeGreaterThan(1);
  });
});
