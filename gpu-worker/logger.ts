/**
 * The worker's structured logs: JSON lines on stderr (stdout carries answers when no results store
 * is configured), in the format every deployable shares.
 */
import { jsonLinesLogger, type Logger } from '../core/util/json-lines-logger';

export { messageOf, silentLogger, type Logger, type LogLevel } from '../core/util/json-lines-logger';

/** Writes JSON lines to `stream`; `base` fields (worker id, model) go on every line. */
export function jsonLogger(
  stream: NodeJS.WritableStream = process.stderr,
  base: Record<string, unknown> = {},
): Logger {
  return jsonLinesLogger(stream, base);
}
