import { cutOverheadMs } from '../../core/bundle/cost-profile';

describe('what one cut costs', () => {
  it('shares the chain’s excess over the whole model evenly among its cuts, per batch size', () => {
    // Given a chain of three segments (two cuts) timed at two batch sizes
    const timings = {
      segmentMs: [
        [1, 4],
        [1, 4],
        [1.4, 4.4],
      ],
      vanillaMs: [3, 12],
    };

    // When the per-cut overhead is derived
    const perCut = cutOverheadMs(timings);

    // Then each cut carries half the excess at each size
    expect(perCut[0]).toBeCloseTo(0.2, 10);
    expect(perCut[1]).toBeCloseTo(0.2, 10);
  });

  it('reads a chain measured faster than the whole model as no overhead, not a negative one', () => {
    expect(cutOverheadMs({ segmentMs: [[1], [1]], vanillaMs: [2.5] })).toEqual([0]);
  });

  it('charges nothing when the model was never cut', () => {
    expect(cutOverheadMs({ segmentMs: [[3]], vanillaMs: [2] })).toEqual([0]);
  });
});
