/**
 * The delivery settings every transport shares, their defaults and their checks, kept in one place
 * so that a configuration means the same thing whichever queue it is given to.
 */
import { InputError } from '../../core/errors';
import type { QueueKind, ReceivedMessage } from './request-queue';

/** How long a received message stays invisible when nobody extends it. */
export const DEFAULT_VISIBILITY_TIMEOUT_MS = 30_000;
/** Receives before a message is dead-lettered instead of being delivered again. */
export const DEFAULT_MAX_RECEIVES = 5;

export interface DeliveryOptions {
  /**
   * How long a received message stays hidden from other consumers unless extended or released.
   * @default DEFAULT_VISIBILITY_TIMEOUT_MS (30 s)
   */
  readonly visibilityTimeoutMs?: number;
  /**
   * Receives after which a message is dead-lettered rather than delivered again.
   * @default DEFAULT_MAX_RECEIVES (5)
   */
  readonly maxReceives?: number;
}

/**
 * Where an adapter reports errors it deals with itself rather than rejecting with, such as a lost
 * Redis connection that will be retried or a poison message that could not be moved aside.
 */
export type QueueErrorListener = (error: Error) => void;

/** Resolves the defaults and refuses settings that would make delivery meaningless. */
export function resolveDeliveryOptions(options: DeliveryOptions): Required<DeliveryOptions> {
  const visibilityTimeoutMs = options.visibilityTimeoutMs ?? DEFAULT_VISIBILITY_TIMEOUT_MS;
  const maxReceives = options.maxReceives ?? DEFAULT_MAX_RECEIVES;
  if (!Number.isSafeInteger(visibilityTimeoutMs) || visibilityTimeoutMs < 1) {
    throw new InputError(
      `visibilityTimeoutMs must be a positive whole number of milliseconds, got ${visibilityTimeoutMs}`,
    );
  }
  if (!Number.isSafeInteger(maxReceives) || maxReceives < 1) {
    throw new InputError(`maxReceives must be a whole number of at least 1, got ${maxReceives}`);
  }
  return { visibilityTimeoutMs, maxReceives };
}

/** Refuses receive arguments no transport can honour; these are programming errors, hence RangeError. */
export function checkReceiveArguments(max: number, waitMs: number): void {
  if (!Number.isSafeInteger(max) || max < 1) {
    throw new RangeError(`receive: max must be a whole number of at least 1, got ${max}`);
  }
  if (!Number.isFinite(waitMs) || waitMs < 0) {
    throw new RangeError(`receive: waitMs must be a finite number of at least 0, got ${waitMs}`);
  }
}

/** Refuses a visibility extension that is not a positive duration. */
export function checkExtensionMs(ms: number): void {
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new RangeError(`extendVisibility: ms must be a positive finite number, got ${ms}`);
  }
}

/** The error for acting on a delivery this consumer no longer holds. */
export function notHeldError(action: string, message: ReceivedMessage, why: string): Error {
  return new Error(`cannot ${action} request ${message.request.requestId}: ${why}`);
}

/**
 * The listener used when a caller gives none: one structured JSON line on stderr with a fixed
 * message, so errors are never silent and never become an unhandled 'error' event.
 */
export function defaultErrorListener(kind: QueueKind, queueName: string): QueueErrorListener {
  return (error) => {
    process.stderr.write(
      `${JSON.stringify({ level: 'error', message: 'request queue error', kind, queueName, error: error.message })}\n`,
    );
  };
}
