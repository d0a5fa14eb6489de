/**
 * The controller's structured log: one JSON object per line with a fixed `message` per event and
 * the variable parts as fields, so CloudWatch Logs Insights queries match on the message and never
 * parse prose. The shape is the worker's (`gpu-worker/logger.ts`), so the local stack can hand the
 * same logger to both without the functions importing the worker.
 */
export type ControllerLogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Where the controller writes its log lines. */
export interface ControllerLogger {
  log(level: ControllerLogLevel, message: string, fields?: Record<string, unknown>): void;
}

/**
 * Writes JSON lines to `stream` (stdout by default, which Lambda ships to CloudWatch Logs), with
 * `base` fields on every line.
 */
export function jsonLineLogger(
  stream: NodeJS.WritableStream = process.stdout,
  base: Record<string, unknown> = {},
): ControllerLogger {
  return {
    log(level, message, fields = {}) {
      stream.write(
        `${JSON.stringify({ time: new Date().toISOString(), level, message, ...base, ...fields })}\n`,
      );
    },
  };
}

/** The message of anything thrown, as one line. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
