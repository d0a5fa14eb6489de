import { createBatchingPolicy, type BatchingPolicySelection } from '../../core/batching/create-policy';
import { InputError } from '../../core/errors';

describe('selecting a batching policy by name', () => {
  it('builds the policy each name stands for', () => {
    expect(createBatchingPolicy({ name: 'tfserving', batchTimeoutMs: 5 }).name).toBe('tfserving');
    expect(createBatchingPolicy({ name: 'clockwork', latencyMs: () => 1 }).name).toBe('clockwork');
  });

  it('refuses an unknown name from untyped input and lists the known ones', () => {
    const selection = { name: 'fifo', batchTimeoutMs: 5 } as unknown as BatchingPolicySelection;

    expect(() => createBatchingPolicy(selection)).toThrow(InputError);
    expect(() => createBatchingPolicy(selection)).toThrow(
      'unknown batching policy "fifo"; choose one of tfserving, clockwork',
    );
  });
});
