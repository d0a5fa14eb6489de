import { rampUtilities, utilityFromExitRates } from '../../core/control/ramp-utility';
import { windowFromRows } from '../../core/control/records';
import { InputError } from '../../core/errors';

// Exits after 3 ms and 6 ms, the end after 11 ms; each ramp costs 0.5 ms.
const costs = { exitMs: [3, 6], finalMs: 11, plainMs: 10, rampMs: [0.5, 0.5] };

describe('ramp utility', () => {
  it('matches a hand-computed example', () => {
    // Given two inputs leaving at ramp 0, one at ramp 1 and one at the end
    const window = windowFromRows([
      { confidence: [0.99, 0.2], agrees: [1, 1] },
      { confidence: [0.98, 0.2], agrees: [1, 1] },
      { confidence: [0.3, 0.99], agrees: [1, 1] },
      { confidence: [0.3, 0.3], agrees: [1, 1] },
    ]);

    // When utilities are computed at thresholds 0.05
    const utilities = rampUtilities(window, [0.05, 0.05], costs);

    // Then ramp 0 saves 0.5 × (6 − 3) and costs 0.5 (passing) × 0.5 ms = 1.25 ms per input;
    // ramp 1 saves 0.25 × (11 − 6) and costs 0.25 × 0.5 ms = 1.125 ms per input
    expect(utilities[0]).toBeCloseTo(1.25, 12);
    expect(utilities[1]).toBeCloseTo(1.125, 12);
  });

  it('charges a ramp that exits nothing its full cost for every input reaching it', () => {
    expect(utilityFromExitRates([0, 0.4, 0.6], costs)).toEqual([-0.5, 0.4 * 5 - 0.6 * 0.5]);
  });

  it('rejects exit rates that do not match the ramps', () => {
    expect(() => utilityFromExitRates([0.5, 0.5], costs)).toThrow(InputError);
  });
});
