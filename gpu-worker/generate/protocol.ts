/**
 * Messages between the main thread and the generation thread. Requests carry their prompt bytes
 * (small; cloned); everything the loop reports comes back as its own events.
 */
import type { GenerationRequest } from '../../core/generate/exit-decoder';
import type { GenerationEvent, GenerationLoopOptions } from './generation-loop';

export type ToGenerationThread =
  | { readonly type: 'open'; readonly options: GenerationLoopOptions }
  | { readonly type: 'submit'; readonly request: GenerationRequest }
  | { readonly type: 'cancel'; readonly id: string }
  | { readonly type: 'close' };

export type FromGenerationThread =
  | {
      readonly type: 'opened';
      readonly context: number;
      readonly rampCount: number;
      readonly maxRows: number;
    }
  | { readonly type: 'open-failed'; readonly message: string }
  | { readonly type: 'refused'; readonly id: string; readonly message: string }
  | { readonly type: 'event'; readonly event: GenerationEvent }
  | { readonly type: 'closed' };
