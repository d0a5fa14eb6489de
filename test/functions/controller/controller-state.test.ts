import {
  controllerStateSchema,
  freshControllerState,
  storableState,
} from '../../../functions/controller/controller-state';

describe("the controller's state between runs", () => {
  it('stores a document its own schema reads back, with the pending config only when there is one', () => {
    // Given a fresh state
    const state = freshControllerState('a'.repeat(64), 0.01, 1234);
    const pending = { version: 3, ramps: [{ id: 'c0', threshold: 0.2 }] };

    // Then it is stored without a pending config unless one is given, and parses back as it was
    const without = storableState({ ...state, pending }, undefined);
    expect(without).not.toHaveProperty('pending');
    expect(controllerStateSchema.parse(without)).toEqual(state);
    expect(controllerStateSchema.parse(storableState(state, pending)).pending).toEqual(pending);
  });
});
