import { trainRamp, type RampTrainingData } from '../../core/ramps/train-ramp';
import { argmax } from '../../core/util/stats';
import { mnistPixelData as pixelData } from '../support/mnist-pixels';

function predict(data: RampTrainingData, weights: Float32Array, bias: Float32Array, row: number): number {
  const logits = Float64Array.from(bias);
  for (let j = 0; j < data.featureSize; j++) {
    const v = data.features[row * data.featureSize + j] as number;
    for (let k = 0; k < data.classes; k++)
      logits[k] = (logits[k] as number) + v * (weights[j * data.classes + k] as number);
  }
  return argmax(logits, 0, data.classes);
}

describe('trainRamp', () => {
  it('learns a linear ramp whose folded weights agree with the labels on held-out rows', async () => {
    // Given 1,000 real digits and their labels
    const data = await pixelData(1000);

    // When a ramp is trained with a fixed seed
    const ramp = trainRamp(data, { seed: 7, epochs: 20 });

    // Then it generalises, and the deployed (folded) weights predict on raw features as training measured
    expect(ramp.validationCount).toBe(100);
    expect(ramp.trainCount).toBe(900);
    expect(ramp.validationAgreement).toBeGreaterThan(0.8);
    let agree = 0;
    for (let row = 0; row < data.count; row++)
      if (predict(data, ramp.weights, ramp.bias, row) === data.labels[row]) agree++;
    const overall = agree / data.count;
    const expected =
      (ramp.trainAgreement * ramp.trainCount + ramp.validationAgreement * ramp.validationCount) / data.count;
    expect(Math.abs(overall - expected)).toBeLessThanOrEqual(0.002);
    // And the held-out rows it names are the ones its validation agreement was measured on
    expect(new Set(ramp.validationRows).size).toBe(100);
    let heldOutAgree = 0;
    for (const row of ramp.validationRows)
      if (predict(data, ramp.weights, ramp.bias, row) === data.labels[row]) heldOutAgree++;
    expect(Math.abs(heldOutAgree / 100 - ramp.validationAgreement)).toBeLessThanOrEqual(0.02);
  });

  it('is deterministic for a seed', async () => {
    const data = await pixelData(200);
    const first = trainRamp(data, { seed: 3, epochs: 3 });
    const second = trainRamp(data, { seed: 3, epochs: 3 });
    expect(Buffer.from(first.weights.buffer).equals(Buffer.from(second.weights.buffer))).toBe(true);
  });

  it('holds out each row exactly once over the folds of one seed', async () => {
    // Given 200 digits split into five folds of one seeded order
    const data = await pixelData(200);
    const held = Array.from({ length: 5 }, (_, fold) =>
      trainRamp(data, { seed: 3, epochs: 1, heldOutFold: { fold, folds: 5 } }),
    );
    // Then every fold holds out 40 rows and trains on the other 160, and together they cover all
    for (const ramp of held) {
      expect(ramp.validationCount).toBe(40);
      expect(ramp.trainCount).toBe(160);
    }
    const rows = held.flatMap((ramp) => Array.from(ramp.validationRows)).sort((a, b) => a - b);
    expect(rows).toEqual(Array.from({ length: 200 }, (_, i) => i));
  });

  it('refuses a fold outside its folds', async () => {
    const data = await pixelData(20);
    expect(() => trainRamp(data, { seed: 3, heldOutFold: { fold: 5, folds: 5 } })).toThrow(
      /held-out fold must be an integer in \[0, folds\).*got fold 5 of 5/,
    );
    expect(() => trainRamp(data, { seed: 3, heldOutFold: { fold: 0, folds: 1 } })).toThrow(
      /folds an integer in \[2, 20\]/,
    );
  });

  it('refuses training data whose sizes disagree', () => {
    expect(() =>
      trainRamp(
        { features: new Float32Array(5), labels: [0, 1], count: 2, featureSize: 3, classes: 2 },
        { seed: 1 },
      ),
    ).toThrow(/ramp training needs at least 2 rows with 3 features/);
  });
});
