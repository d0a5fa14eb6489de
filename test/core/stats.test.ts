import { argmax, median, quantile } from '../../core/util/stats';

describe('order statistics', () => {
  it('interpolates quantiles between order statistics', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(quantile([10, 20, 30, 40, 50], 0.25)).toBe(20);
    expect(Number.isNaN(median([]))).toBe(true);
  });

  it('breaks argmax ties toward the lower index, like the recipes', () => {
    expect(argmax([0, 2, 2, 1], 0, 4)).toBe(1);
    expect(argmax([9, 0, 1, 5], 1, 3)).toBe(2);
  });
});
