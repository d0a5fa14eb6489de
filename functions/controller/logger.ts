/**
 * The controller's structured log, in the format every deployable shares, on stdout (which Lambda
 * ships to CloudWatch Logs). The shape is the worker's, so the local stack hands one logger to both
 * without the functions importing the worker.
 */
import { jsonLinesLogger, type Logger, type LogLevel } from '../../core/util/json-lines-logger';

export { messageOf as errorMessage } from '../../core/util/json-lines-logger';

export type ControllerLogLevel = LogLevel;

/** Where the controller writes its log lines. */
export type ControllerLogger = Logger;

/** Writes JSON lines to `stream` (stdout by default), with `base` fields on every line. */
export function jsonLineLogger(
  stream: NodeJS.WritableStream = process.stdout,
  base: Record<string, unknown> = {},
): ControllerLogger {
  return jsonLinesLogger(stream, base);
}
