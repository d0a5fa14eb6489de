/**
 * Structured logs: one JSON object per line on stderr, with a fixed `message` per event and the
 * variable parts as fields, so log queries match on the message and never parse prose.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  log(level: LogLevel, message: string, fields?: Record<string, unknown>): void;
}

/** Writes JSON lines to `stream`; `base` fields (worker id, model) go on every line. */
export function jsonLogger(
  stream: NodeJS.WritableStream = process.stderr,
  base: Record<string, unknown> = {},
): Logger {
  return {
    log(level, message, fields = {}) {
      stream.write(
        `${JSON.stringify({ time: new Date().toISOString(), level, message, ...base, ...fields })}\n`,
      );
    },
  };
}

/** Discards everything; for benchmarks, where logging would be measured as overhead. */
export const silentLogger: Logger = { log: () => undefined };

/** The message of anything thrown, as one line. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
