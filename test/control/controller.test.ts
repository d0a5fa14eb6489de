import {
  ApparateController,
  type ControllerOptions,
  type ObserveResult,
} from '../../core/control/controller';
import { configCostsAt, rampBudgetMs } from '../../core/control/costs';
import { evaluateConfig, meetsConstraint, serveWindow } from '../../core/control/exit-rule';
import { selectRamps, sliceWindow, windowFromRows, type ExitWindow } from '../../core/control/records';
import { syntheticProfile, syntheticWindow } from '../../core/control/synthetic';
import { InputError } from '../../core/errors';

// Twelve candidates over a 10 ms model (at batch 8, the reference size), each ramp 0.5% of it.
const profile = syntheticProfile(12);
const startRamps = [2, 4, 7, 9].map((c) => ({ id: `c${c}`, threshold: 0 }));

function controller(extra: Partial<ControllerOptions> = {}): ApparateController {
  return new ApparateController({ profile, initialConfig: { ramps: startRamps }, ...extra });
}

/** Serves a recorded all-candidate stream through the controller, batch by batch, as the simulator does. */
function replay(
  ctl: ApparateController,
  all: ExitWindow,
  batchSize: number,
  onResult?: (r: ObserveResult) => void,
) {
  let agreeing = 0;
  let latency = 0;
  for (let start = 0; start < all.count; start += batchSize) {
    const active = [...ctl.activeIndices];
    const batch = selectRamps(sliceWindow(all, start, start + batchSize), active);
    const served = serveWindow(batch, ctl.thresholds, configCostsAt(profile, active, batchSize));
    served.agrees.forEach((a) => (agreeing += a));
    served.latencyMs.forEach((ms) => (latency += ms));
    const result = ctl.observeBatch(batch, batchSize);
    onResult?.(result);
  }
  return { agreement: agreeing / all.count, meanLatencyMs: latency / all.count };
}

/** A batch for `ramps` ramps in which every ramp is confident; `agree` says whether they are right. */
function confidentBatch(ramps: number, size: number, agree: boolean): ExitWindow {
  return windowFromRows(
    Array.from({ length: size }, (_, i) => ({
      confidence: new Array<number>(ramps).fill(0.999 - i * 0.0001),
      agrees: new Array<number>(ramps).fill(agree ? 1 : 0),
    })),
  );
}

describe('ApparateController', () => {
  it('retunes on the first batch once the window holds enough inputs, and versions the change', () => {
    // Given a fresh controller whose ramps start at threshold 0
    const ctl = controller({ minTuneInputs: 8 });
    expect(ctl.config.version).toBe(0);

    // When a first batch of confident, agreeing inputs arrives
    const result = ctl.observeBatch(confidentBatch(4, 8, true), 8);

    // Then it tuned, thresholds rose, and the version moved on by one
    expect(result.tuned).toBe(true);
    expect(result.thresholdsChanged).toBe(true);
    expect(result.config.version).toBe(1);
    expect(result.config.ramps.map((r) => r.id)).toEqual(['c2', 'c4', 'c7', 'c9']);
    expect(result.config.ramps[0]?.threshold).toBeGreaterThan(0);
  });

  it('waits for minTuneInputs before the first tune, keeping the request', () => {
    const ctl = controller({ minTuneInputs: 24 });
    expect(ctl.observeBatch(confidentBatch(4, 8, true), 8).tuned).toBe(false);
    expect(ctl.observeBatch(confidentBatch(4, 8, true), 8).tuned).toBe(false);
    expect(ctl.observeBatch(confidentBatch(4, 8, true), 8).tuned).toBe(true);
    expect(ctl.counters.tunes).toBe(1);
  });

  it('retunes periodically even when nothing goes wrong', () => {
    const ctl = controller({ minTuneInputs: 8, tunePeriodBatches: 3 });
    const tunedAt: number[] = [];
    for (let b = 1; b <= 10; b++) if (ctl.observeBatch(confidentBatch(4, 8, true), 8).tuned) tunedAt.push(b);
    expect(tunedAt).toEqual([1, 4, 7, 10]);
  });

  it('when the window falls under the constraint, lowers thresholds at once, then retunes', () => {
    // Given thresholds tuned high on confident, agreeing inputs
    const ctl = controller({ minTuneInputs: 8, tuningHeadroom: 0, headroomGain: 0 });
    for (let b = 0; b < 4; b++) ctl.observeBatch(confidentBatch(4, 8, true), 8);
    const before = [...ctl.thresholds];
    expect(before[0]).toBeGreaterThan(0);

    // When a batch arrives on which every confident ramp is wrong
    const result = ctl.observeBatch(confidentBatch(4, 8, false), 8);

    // Then the guard acted and a retune followed; the window meets the constraint again
    expect(result.guarded).toBe(true);
    expect(result.tuned).toBe(true);
    expect(result.thresholdsChanged).toBe(true);
    expect(ctl.counters.guardActivations).toBe(1);
    const costs = configCostsAt(profile, [...ctl.activeIndices], 8);
    expect(evaluateConfig(ctl.window, ctl.thresholds, costs).agreement).toBeGreaterThanOrEqual(0.99);
    expect(ctl.thresholds[0]).toBeLessThan(before[0] as number);
  });

  it('keeps the last input of every batch in its window (no dropped sample)', () => {
    const ctl = controller({ windowInputs: 100 });
    const batches = [3, 5, 7].map((n, b) =>
      sliceWindow(selectRamps(syntheticWindow({ inputs: n, ramps: 12, seed: b }), [2, 4, 7, 9]), 0),
    );
    for (const batch of batches) ctl.observeBatch(batch, 8);
    expect(ctl.window.count).toBe(15);
    const last = batches[2] as ExitWindow;
    expect(ctl.window.confidence[3]?.[14]).toBe(last.confidence[3]?.[6]);
  });

  it('switches ramps when the adjuster says so: wipes the window, starts new ramps at 0, then retunes', () => {
    // Given a config using c11, beyond the latest useful candidate c8
    const ctl = new ApparateController({
      profile,
      initialConfig: {
        version: 5,
        ramps: [
          { id: 'c3', threshold: 0.1 },
          { id: 'c11', threshold: 0.2 },
        ],
      },
      latestUsefulCandidate: 'c8',
      adjustPeriodBatches: 2,
      minTuneInputs: 8,
    });
    ctl.observeBatch(confidentBatch(2, 8, true), 8);

    // When the adjuster runs on the second batch
    const result = ctl.observeBatch(confidentBatch(2, 8, true), 8);

    // Then c11 is gone, the window is empty, the version moved on, and the next batch retunes
    expect(result.rampsChanged).toBe(true);
    expect(result.adjustment?.reason).toBe('repaired');
    expect(result.config.ramps.map((r) => r.id)).toEqual(['c3']);
    expect(result.config.version).toBe(7);
    expect(ctl.window.count).toBe(0);
    expect(ctl.counters.rampChanges).toBe(1);
    expect(ctl.observeBatch(confidentBatch(1, 8, true), 8).tuned).toBe(true);
  });

  it('tries a shallower ramp, at threshold 0, once every ramp has paid for itself', () => {
    // Given inputs spread evenly over the four ramps: each input is wrong before its ramp, and
    // confident and right from there on
    const ctl = controller({ minTuneInputs: 8, adjustPeriodBatches: 40, utilitySampleInputs: 8 });
    const spread = windowFromRows(
      Array.from({ length: 8 }, (_, i) => ({
        confidence: [0, 1, 2, 3].map((r) => (r >= i % 4 ? 0.999 : 0.3)),
        agrees: [0, 1, 2, 3].map((r) => (r >= i % 4 ? 1 : 0)),
      })),
    );

    // When 40 batches have been served, the adjuster running on the last
    for (let b = 0; b < 39; b++) expect(ctl.observeBatch(spread, 8).adjustment).toBeUndefined();
    const means = ctl.utilities.map((history) => history.reduce((sum, u) => sum + u, 0) / history.length);
    expect(Math.min(...means)).toBeGreaterThan(0);
    const lowest = [...ctl.activeIndices][means.indexOf(Math.min(...means))] as number;
    const adjusted = ctl.observeBatch(spread, 8);

    // Then, the budget being full, the least useful ramp made room for c0, which starts at 0
    expect(adjusted.adjustment?.reason).toBe('swapped-lowest-for-shallower');
    expect(adjusted.adjustment?.removed).toEqual([lowest]);
    expect(adjusted.config.ramps[0]).toEqual({ id: 'c0', threshold: 0 });
    expect(adjusted.config.ramps).toHaveLength(4);
    expect(ctl.window.count).toBe(0);
  });

  it('adds no ramp while the caller reports lanes busy 0.8 of the time or more, and removes as before', () => {
    // Given the same evenly spread inputs, which make every ramp pay, served on lanes busy 90% of the time
    const spread = windowFromRows(
      Array.from({ length: 8 }, (_, i) => ({
        confidence: [0, 1, 2, 3].map((r) => (r >= i % 4 ? 0.999 : 0.3)),
        agrees: [0, 1, 2, 3].map((r) => (r >= i % 4 ? 1 : 0)),
      })),
    );
    const busy = controller({ minTuneInputs: 8, adjustPeriodBatches: 40, utilitySampleInputs: 8 });
    let adjusted: ObserveResult | undefined;
    for (let b = 0; b < 40; b++) adjusted = busy.observeBatch(spread, 8, { lanesBusyShare: 0.9 });

    // Then the adjuster keeps the four ramps instead of trying c0
    expect(adjusted?.adjustment?.reason).toBe('lanes-busy');
    expect(adjusted?.rampsChanged).toBe(false);
    expect(busy.config.ramps.map((r) => r.id)).toEqual(['c2', 'c4', 'c7', 'c9']);

    // And at half that occupancy it tries c0 as before
    const calm = controller({ minTuneInputs: 8, adjustPeriodBatches: 40, utilitySampleInputs: 8 });
    for (let b = 0; b < 40; b++) adjusted = calm.observeBatch(spread, 8, { lanesBusyShare: 0.45 });
    expect(adjusted?.rampsChanged).toBe(true);
    expect(calm.config.ramps[0]?.id).toBe('c0');

    // And a share outside [0, 1] is refused with what is allowed
    expect(() => calm.observeBatch(spread, 8, { lanesBusyShare: 1.5 })).toThrow(
      /lanesBusyShare must be a share from 0 to 1, got 1.5/,
    );
  });

  it('rejects batches and configs that do not fit it', () => {
    const ctl = controller();
    expect(() => ctl.observeBatch(confidentBatch(3, 8, true), 8)).toThrow(InputError);
    expect(() => ctl.observeBatch(confidentBatch(4, 8, true), 0)).toThrow(InputError);
    expect(() => controller({ initialConfig: { ramps: [{ id: 'nope', threshold: 0 }] } })).toThrow(
      InputError,
    );
    expect(() => controller({ windowInputs: 0 })).toThrow(InputError);
  });

  it('serves a realistic drifting stream near the constraint, within budget and range, versioning every change', () => {
    // Given 12 000 inputs that get harder half way through
    const all = syntheticWindow({
      inputs: 12_000,
      ramps: 12,
      seed: 21,
      hardnessAt: (i) => (i >= 6000 ? 1 : 0),
    });
    const ctl = controller();
    let version = 0;
    let changes = 0;
    const tunedWindowsMeet: boolean[] = [];
    const budget = rampBudgetMs(profile, 0.02);

    // When it is replayed at batch 8
    const outcome = replay(ctl, all, 8, (result) => {
      const changed = result.thresholdsChanged || result.rampsChanged;
      expect(result.config.version).toBe(changed ? version + 1 : version);
      version = result.config.version;
      if (changed) changes++;
      if (result.tuned && !result.rampsChanged) {
        const costs = configCostsAt(profile, [...ctl.activeIndices], 8);
        tunedWindowsMeet.push(
          meetsConstraint(evaluateConfig(ctl.window, ctl.thresholds, costs).agreement, 0.99),
        );
      }
      const spent = ctl.activeIndices.reduce(
        (sum, c) => sum + (profile.candidates[c]?.rampMs[3] as number),
        0,
      );
      expect(spent).toBeLessThanOrEqual(budget + 1e-9);
    });

    // Then after every tune the window met the constraint, the served agreement is close to 99%,
    // latency is saved, and the counters add up
    expect(tunedWindowsMeet.length).toBeGreaterThan(100);
    expect(tunedWindowsMeet.every(Boolean)).toBe(true);
    expect(outcome.agreement).toBeGreaterThan(0.985);
    expect(outcome.meanLatencyMs).toBeLessThan(0.85 * (profile.plainMs[3] as number));
    const counters = ctl.counters;
    expect(counters.thresholdUpdates + counters.rampChanges).toBe(changes);
    expect(counters.batches).toBe(1500);
    expect(counters.inputs).toBe(12_000);
  });

  it('raises its tuning headroom when the agreement it serves falls short', () => {
    const all = syntheticWindow({ inputs: 6000, ramps: 12, seed: 22 });
    const ctl = controller({ tuningHeadroom: 0 });
    replay(ctl, all, 8);
    expect(ctl.tuningHeadroom).toBeGreaterThan(0);
    expect(ctl.tuningHeadroom).toBeLessThanOrEqual(0.01);
  });
});
