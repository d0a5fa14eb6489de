/**
 * Structured logs as the worker, the functions and the local stack all write them: one JSON object
 * per line with a fixed `message` per event and the variable parts as fields, so log queries
 * (CloudWatch Logs Insights, `jq`, `grep`) match on the message and never parse prose. Each
 * deployable picks its stream (the worker stderr, a Lambda stdout); the format is one.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  log(level: LogLevel, message: string, fields?: Record<string, unknown>): void;
}

/** Writes JSON lines to `stream`; `base` fields (worker id, model) go on every line. */
export function jsonLinesLogger(stream: NodeJS.WritableStream, base: Record<string, unknown> = {}): Logger {
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

export { messageOf } from '../errors';
