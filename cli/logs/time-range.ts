/**
 * The time range `apparate logs` reads: `--since <duration>` back from now, or `--from <ISO>` to
 * `--to <ISO>` (now when absent). Exit logs live for a TTL (7 days by default), so a range reaching
 * further back can only be partly there; a bad range is refused with the forms that are allowed.
 */
import { InputError } from '../../core/errors';

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const DURATION_FORMS = 'a number and a unit: ms, s, m, h or d (e.g. 90s, 10m, 1h, 2d)';

/** Milliseconds of a duration such as `10m`, `1.5h` or `500ms`. */
export function parseDuration(flag: string, text: string): number {
  const match = DURATION.exec(text.trim());
  const ms = match === null ? Number.NaN : Number(match[1]) * (UNIT_MS[match[2] as string] as number);
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new InputError(`--${flag} must be ${DURATION_FORMS}, greater than zero; got "${text}"`);
  }
  return Math.round(ms);
}

/** Epoch ms of an ISO 8601 time with a date; a time without an offset is read as UTC. */
export function parseInstant(flag: string, text: string): number {
  const trimmed = text.trim();
  const withZone = /T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(trimmed) ? `${trimmed}Z` : trimmed;
  const ms = /^\d{4}-\d{2}-\d{2}/.test(trimmed) ? Date.parse(withZone) : Number.NaN;
  if (!Number.isFinite(ms)) {
    throw new InputError(
      `--${flag} must be an ISO 8601 time such as 2026-12-02T14:05:00Z (a time without an offset is UTC); got "${text}"`,
    );
  }
  return ms;
}

export interface TimeRange {
  readonly fromMs: number;
  readonly toMs: number;
}

export interface RangeFlags {
  readonly since?: string;
  readonly from?: string;
  readonly to?: string;
}

/**
 * The range the flags ask for; `--since 1h` when none is given. Refuses mixing `--since` with
 * `--from`/`--to`, `--to` alone, an end not after the start, a start in the future, and a range
 * longer than `maxRangeMs` (the logs' lifetime).
 */
export function resolveTimeRange(
  flags: RangeFlags,
  nowMs: number,
  maxRangeMs: number,
  defaultSince = '1h',
): TimeRange {
  if (flags.since !== undefined && (flags.from !== undefined || flags.to !== undefined)) {
    throw new InputError('give either --since <duration> or --from <ISO> [--to <ISO>], not both');
  }
  if (flags.to !== undefined && flags.from === undefined) {
    throw new InputError('--to needs --from: give --from <ISO> [--to <ISO>], or --since <duration>');
  }
  let range: TimeRange;
  if (flags.from !== undefined) {
    const fromMs = parseInstant('from', flags.from);
    const toMs = flags.to === undefined ? nowMs : parseInstant('to', flags.to);
    if (fromMs > nowMs) {
      throw new InputError(
        `--from (${new Date(fromMs).toISOString()}) is in the future; it is ${new Date(nowMs).toISOString()} now`,
      );
    }
    if (toMs <= fromMs) {
      throw new InputError(
        `--to (${new Date(toMs).toISOString()}) must be after --from (${new Date(fromMs).toISOString()})`,
      );
    }
    range = { fromMs, toMs };
  } else {
    range = { fromMs: nowMs - parseDuration('since', flags.since ?? defaultSince), toMs: nowMs };
  }
  if (range.toMs - range.fromMs > maxRangeMs) {
    throw new InputError(
      `the range is ${formatDuration(range.toMs - range.fromMs)} long; at most ${formatDuration(maxRangeMs)} can be read at once (exit logs are kept that long), so read it in pieces`,
    );
  }
  return range;
}

/** A duration for people: `7d`, `1h 30m`, `45s`, `250ms`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const parts: string[] = [];
  let rest = Math.round(ms / 1000);
  for (const [unit, seconds] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (rest >= seconds) {
      parts.push(`${Math.floor(rest / seconds)}${unit}`);
      rest %= seconds;
    }
  }
  return parts.slice(0, 2).join(' ');
}
