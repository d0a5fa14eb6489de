/**
 * Cross-fitted observations: every bootstrap input judged by a ramp trained on the other folds.
 */
import { crossFittedObservations } from '../../core/prepare/cross-fitted';
import { trainRamp } from '../../core/ramps/train-ramp';
import { applyRamp } from '../../core/simulator/observations';
import { mnistPixelData as digits } from '../support/mnist-pixels';

describe('cross-fitted observations', () => {
  it('judges every input by the ramp of the fold that held it out', async () => {
    // Given 300 real digits, cross-fitted over three folds
    const data = await digits(300);
    const observed = crossFittedObservations(data, 11, 3);

    // Then every input has a confidence, and most agree with their label as a held-out ramp would
    expect(observed.confidence).toHaveLength(300);
    expect(observed.confidence.every((c) => c > 0 && c <= 1)).toBe(true);
    const agreement = observed.agrees.reduce((sum, a) => sum + a, 0) / 300;
    expect(agreement).toBeGreaterThan(0.7);
    // And each of a fold's rows reads what that fold's ramp, trained without it, says about it
    const fold = trainRamp(data, { seed: 11, heldOutFold: { fold: 1, folds: 3 } });
    for (const row of fold.validationRows) {
      const out = applyRamp(data.features, row * data.featureSize, data.featureSize, fold.weights, fold.bias);
      expect(observed.confidence[row]).toBeCloseTo(out.confidence, 6);
      expect(observed.agrees[row]).toBe(out.prediction === data.labels[row] ? 1 : 0);
    }
    // Which is less than the ramps agree with the rows they were trained on
    expect(agreement).toBeLessThan(fold.trainAgreement);
  });
});
