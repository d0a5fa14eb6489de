import { answeredStatus, mostFinalRecord } from '../../core/serving/stored-results';

describe('the precedence readers of answers apply', () => {
  it('shows a final answer over an error, an error over a lone early answer', () => {
    expect(answeredStatus({ early: 1, final: 1, error: 1 })).toBe('final');
    expect(answeredStatus({ early: 1, error: 1 })).toBe('error');
    expect(answeredStatus({ early: 1 })).toBe('early');
    expect(answeredStatus({})).toBeUndefined();
  });

  it("picks, of one request's records in several tables, the most final, a pending one last", () => {
    const record = (status: 'pending' | 'early' | 'error' | 'final', table: string) => ({ status, table });
    expect(
      mostFinalRecord([undefined, record('pending', 'a'), record('final', 'b'), record('early', 'c')]),
    ).toEqual(record('final', 'b'));
    expect(mostFinalRecord([record('early', 'a'), record('error', 'b')])).toEqual(record('error', 'b'));
    expect(mostFinalRecord([record('pending', 'a'), undefined])).toEqual(record('pending', 'a'));
    expect(mostFinalRecord([undefined, undefined])).toBeUndefined();
  });
});
