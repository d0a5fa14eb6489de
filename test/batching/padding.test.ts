import { paddedBatchSize, supportedBatchSizes } from '../../core/batching/padding';
import { DEFAULT_BATCH_SIZES } from '../../core/batching/policy';

describe('padding to supported batch sizes', () => {
  it('rounds a batch up to the smallest supported size that holds it', () => {
    const sizes = supportedBatchSizes();

    expect(sizes).toEqual(DEFAULT_BATCH_SIZES);
    expect([1, 2, 3, 5, 8, 9, 32].map((length) => paddedBatchSize(length, sizes))).toEqual([
      1, 2, 4, 8, 8, 16, 32,
    ]);
    expect(paddedBatchSize(33, sizes)).toBeUndefined();
  });

  it('sorts and de-duplicates the sizes it is given', () => {
    expect(supportedBatchSizes([8, 2, 8, 4])).toEqual([2, 4, 8]);
  });

  it('refuses sizes that are not positive integers', () => {
    expect(() => supportedBatchSizes([])).toThrow(/must not be empty/);
    expect(() => supportedBatchSizes([1, 2.5])).toThrow(/positive integers, got 2.5/);
    expect(() => supportedBatchSizes([-1])).toThrow(/positive integers/);
  });
});
