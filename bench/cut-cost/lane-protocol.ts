/** What the lanes measurement and its threads say to each other (see lane-rounds.ts). */
import type { PlainFeeds } from '../../core/inference/batch-encoding';
import type { ChainSegment } from '../../core/inference/segment-chain';

export type LaneVariant = 'whole' | 'chained' | 'floor';

/** Everything a lane needs to open its own sessions: model bytes and the batch to run. */
export interface LaneSetup {
  readonly whole: Uint8Array;
  readonly segments: readonly (ChainSegment & { readonly bytes: Uint8Array })[];
  /** One pass-through model per cut, fed that cut's tensors (`boundary`). */
  readonly floors: readonly Uint8Array[];
  readonly feeds: PlainFeeds;
  readonly boundary: readonly PlainFeeds[];
}

/** Run `variant` back to back for `ms`. */
export interface ToLane {
  readonly variant: LaneVariant;
  readonly ms: number;
}

/** Batches finished in `elapsedMs` (a first message with zeros says the lane is ready). */
export interface FromLane {
  readonly batches: number;
  readonly elapsedMs: number;
}
