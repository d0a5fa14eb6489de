import { evaluateConfig, exitIndex, serveWindow } from '../../core/control/exit-rule';
import { windowFromRows } from '../../core/control/records';
import { InputError } from '../../core/errors';
import { SeededRandom } from '../../core/util/random';
import { linearCosts, randomWindow } from './windows';

const costs = { exitMs: [3, 6], finalMs: 11, plainMs: 10, rampMs: [0.5, 0.5] };

describe('exit rule', () => {
  it('exits at the first ramp whose 1 - confidence is strictly below its threshold', () => {
    const window = windowFromRows([
      { confidence: [0.75, 0.99], agrees: [1, 1] },
      { confidence: [0.5, 0.99], agrees: [1, 1] },
    ]);
    // 1 - 0.75 = 0.25 is not below 0.25, so input 0 goes on to ramp 1
    expect(exitIndex(window, 0, [0.25, 0.02])).toBe(1);
    expect(exitIndex(window, 0, [0.26, 0.02])).toBe(0);
    expect(exitIndex(window, 1, [0.26, 0])).toBe(-1);
  });

  it('never exits at threshold 0, even at confidence 1', () => {
    const window = windowFromRows([{ confidence: [1, 1], agrees: [1, 1] }]);
    expect(exitIndex(window, 0, [0, 0])).toBe(-1);
  });

  it('evaluates agreement, exit rates, latency and savings on a hand-computed window', () => {
    // Given four inputs: two exit at ramp 0 (one wrong), one at ramp 1, one reaches the end
    const window = windowFromRows([
      { confidence: [0.95, 0.2], agrees: [1, 0] },
      { confidence: [0.92, 0.2], agrees: [0, 1] },
      { confidence: [0.3, 0.97], agrees: [0, 1] },
      { confidence: [0.3, 0.5], agrees: [0, 0] },
    ]);

    // When the config exits below 0.1 at both ramps
    const evaluation = evaluateConfig(window, [0.1, 0.1], costs);

    // Then 3 of 4 answers agree and the mean latency is (3 + 3 + 6 + 11) / 4
    expect(evaluation.agreement).toBe(0.75);
    expect(evaluation.exitRates).toEqual([0.5, 0.25, 0.25]);
    expect(evaluation.meanLatencyMs).toBeCloseTo(5.75, 12);
    expect(evaluation.savingsFraction).toBeCloseTo(0.425, 12);
  });

  it('treats an empty window as every input reaching the end', () => {
    const evaluation = evaluateConfig(
      { count: 0, confidence: [new Float32Array(0)], agrees: [new Uint8Array(0)] },
      [0.5],
      {
        exitMs: [2],
        finalMs: 10.5,
        plainMs: 10,
        rampMs: [0.5],
      },
    );
    expect(evaluation).toMatchObject({ agreement: 1, exitRates: [0, 1], meanLatencyMs: 10.5 });
    expect(evaluation.savingsFraction).toBeCloseTo(-0.05, 12);
  });

  it('rejects thresholds that do not fit the window', () => {
    const window = windowFromRows([{ confidence: [0.5, 0.5], agrees: [1, 1] }]);
    expect(() => evaluateConfig(window, [0.1], costs)).toThrow(InputError);
    expect(() => evaluateConfig(window, [0.1, 1.5], costs)).toThrow(InputError);
  });

  it('property: thresholds all 0 give no exits on any window', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const ramps = 1 + (seed % 6);
      const window = randomWindow(seed, 100, ramps);
      const evaluation = evaluateConfig(window, new Array<number>(ramps).fill(0), linearCosts(ramps));
      expect(evaluation.exitRates[ramps]).toBe(1);
      expect(evaluation.agreement).toBe(1);
    }
  });

  it('property: raising any threshold never lowers the share of inputs exiting somewhere', () => {
    const random = new SeededRandom(99);
    for (let seed = 1; seed <= 200; seed++) {
      const ramps = 1 + (seed % 5);
      const window = randomWindow(seed, 80, ramps);
      const costsOf = linearCosts(ramps);
      const thresholds = Array.from({ length: ramps }, () => random.next() * 0.6);
      const raised = [...thresholds];
      const which = Math.floor(random.next() * ramps);
      raised[which] = Math.min(1, (raised[which] as number) + random.next() * 0.4);
      const before = evaluateConfig(window, thresholds, costsOf).exitRates[ramps] as number;
      const after = evaluateConfig(window, raised, costsOf).exitRates[ramps] as number;
      expect(after).toBeLessThanOrEqual(before);
    }
  });

  it('serves per input exactly what the evaluation summarises', () => {
    const window = randomWindow(5, 200, 3);
    const costsOf = linearCosts(3);
    const thresholds = [0.2, 0.3, 0.4];
    const served = serveWindow(window, thresholds, costsOf);
    const evaluation = evaluateConfig(window, thresholds, costsOf);
    const meanLatency = served.latencyMs.reduce((sum, ms) => sum + ms, 0) / window.count;
    expect(meanLatency).toBeCloseTo(evaluation.meanLatencyMs, 9);
    expect(served.agrees.reduce((sum, a) => sum + a, 0) / window.count).toBe(evaluation.agreement);
    served.exitIndex.forEach((exit, i) => expect(exit).toBe(exitIndex(window, i, thresholds)));
  });
});
