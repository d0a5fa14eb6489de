/**
 * The e2e benchmark's command line: what the loads are fractions of is a choice the user can
 * make, and a wrong word is refused with the allowed ones before minutes of work start.
 */
import { availableParallelism } from 'node:os';
import { layoutOf, parseEvalArgs } from '../../bench/eval/settings';

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

describe('e2e settings: the serving thread layout', () => {
  it('passes lanes and operator threads through, one lane per core but one unless asked', () => {
    // When the layout is asked for on the command line, it reaches the settings and the layout the runs use
    const settings = parseEvalArgs(['--quick', '--inference-threads=1', '--intra-op-threads', '1']);
    expect(layoutOf(settings)).toEqual({ inferenceThreads: 1, intraOpThreads: 1 });
    // And without it the plans leave one core to the client and the main thread, and the
    // operator threads to the worker's default
    expect(layoutOf(parseEvalArgs(['--quick']))).toEqual({
      inferenceThreads: Math.max(1, availableParallelism() - 1),
    });
  });

  it('refuses a lane count below one', () => {
    expect(() => parseEvalArgs(['--inference-threads=0'])).toThrow(/inferenceThreads/);
  });
});
