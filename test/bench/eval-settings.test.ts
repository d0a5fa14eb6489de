/**
 * The e2e benchmark's command line: what the loads are fractions of is a choice the user can
 * make, and a wrong word is refused with the allowed ones before minutes of work start.
 */
import { parseEvalArgs } from '../../bench/eval/settings';

describe('e2e settings: the load basis', () => {
  it('takes loads as fractions of the capacity through the client unless told otherwise', () => {
    expect(parseEvalArgs(['--quick']).loadBasis).toBe('served');
    expect(parseEvalArgs(['--quick', '--load-basis=worker']).loadBasis).toBe('worker');
    expect(parseEvalArgs(['--load-basis', 'served']).loadBasis).toBe('served');
  });

  it('refuses an unknown basis, naming the allowed ones', () => {
    expect(() => parseEvalArgs(['--load-basis=client'])).toThrow(/loadBasis.*"served"\|"worker"/s);
  });
});
