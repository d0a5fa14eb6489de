/**
 * The worker's structured logs: JSON lines on stderr (stdout carries answers when no results store
 * is configured), written by the logger every deployable shares.
 */
export {
  jsonLinesLogger,
  messageOf,
  silentLogger,
  type Logger,
  type LogLevel,
} from '../core/util/json-lines-logger';
