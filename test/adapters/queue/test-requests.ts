/** Requests for the queue tests: valid by default, distinguishable by id. */
import type { InferenceRequest } from '../../../adapters/queue/request-queue';

export function inferenceRequest(
  requestId: string,
  overrides: Partial<InferenceRequest> = {},
): InferenceRequest {
  return {
    requestId,
    model: 'mnist-cnn',
    enqueuedAtMs: 1_700_000_000_000,
    deadlineAtMs: 1_700_000_000_250,
    input: { pixels: [0, 0.25, 1], shape: [1, 3] },
    mode: 'sync',
    ...overrides,
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
