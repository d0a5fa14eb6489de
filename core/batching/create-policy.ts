/**
 * One place that turns a user's policy choice (a name plus its options) into a policy object, so
 * the CLI, the worker and the simulator accept the same names and validate the same way.
 */
import { InputError } from '../errors';
import { ClockworkPolicy, type ClockworkOptions } from './clockwork';
import { BATCHING_POLICY_NAMES, type BatchingPolicy } from './policy';
import { TfServingPolicy, type TfServingOptions } from './tfserving';

export type BatchingPolicySelection =
  ({ readonly name: 'tfserving' } & TfServingOptions) | ({ readonly name: 'clockwork' } & ClockworkOptions);

/** Builds the selected policy; an unknown name (from untyped input) is an InputError listing the known ones. */
export function createBatchingPolicy(selection: BatchingPolicySelection): BatchingPolicy {
  switch (selection.name) {
    case 'tfserving':
      return new TfServingPolicy(selection);
    case 'clockwork':
      return new ClockworkPolicy(selection);
    default: {
      const name = (selection as { name: unknown }).name;
      throw new InputError(
        `unknown batching policy ${JSON.stringify(name)}; choose one of ${BATCHING_POLICY_NAMES.join(', ')}`,
      );
    }
  }
}
