import { cutCostsMs, cutOverheadMs } from '../../core/bundle/cost-profile';

describe('what one cut costs', () => {
  it('shares the chain’s excess over the whole model evenly among its cuts, per batch size', () => {
    // Given a chain of three segments (two cuts) timed at two batch sizes
    const timings = {
      segmentMs: [
        [1, 4],
        [1, 4],
        [1.4, 4.4],
      ],
      plainMs: [3, 12],
    };

    // When the per-cut overhead is derived
    const perCut = cutOverheadMs(timings);

    // Then each cut carries half the excess at each size
    expect(perCut[0]).toBeCloseTo(0.2, 10);
    expect(perCut[1]).toBeCloseTo(0.2, 10);
  });

  it('reads a chain measured faster than the whole model as no overhead, not a negative one', () => {
    expect(cutOverheadMs({ segmentMs: [[1], [1]], plainMs: [2.5] })).toEqual([0]);
  });

  it('charges nothing when the model was never cut', () => {
    expect(cutOverheadMs({ segmentMs: [[3]], plainMs: [2] })).toEqual([0]);
  });
});

describe('what each candidate’s cut costs', () => {
  const chain = { segmentMs: [[1], [1], [1.4]], plainMs: [3] };

  it('is the cut’s own measurement where the bundle has one', () => {
    const costs = cutCostsMs({ ...chain, cutMs: { c0: [0.05], c1: [0.3] } }, ['c0', 'c1']);
    expect(costs.get('c0')).toEqual([0.05]);
    expect(costs.get('c1')).toEqual([0.3]);
  });

  it('falls back to an even share of the chain’s excess for bundles prepared before cuts were measured', () => {
    const costs = cutCostsMs(chain, ['c0', 'c1']);
    expect(costs.get('c0')?.[0]).toBeCloseTo(0.2, 10);
    expect(costs.get('c1')?.[0]).toBeCloseTo(0.2, 10);
  });
});
