/**
 * Exit logs as one row per request, for analysts' own tools: JSON lines (one object a line, the
 * same fields as the CSV) and CSV (RFC 4180 quoting, a header row). Times are ISO 8601 in UTC
 * beside epoch ms, so a spreadsheet and a script both read them without conversion.
 */
import type { RequestRow } from '../../core/report/exit-log-summary';

/** The columns, in order; the JSON-lines objects carry the same names. */
export const EXPORT_COLUMNS = [
  'requestId',
  'batchId',
  'startedAt',
  'startedAtMs',
  'configVersion',
  'exit',
  'releasedPrediction',
  'finalPrediction',
  'agrees',
  'releasedMs',
  'finalMs',
] as const;

type ExportRecord = Record<(typeof EXPORT_COLUMNS)[number], string | number | boolean>;

function record(model: string, row: RequestRow): ExportRecord & { model: string } {
  return {
    model,
    requestId: row.requestId,
    batchId: row.batchId,
    startedAt: new Date(row.startedAtMs).toISOString(),
    startedAtMs: row.startedAtMs,
    configVersion: row.configVersion,
    exit: row.exit,
    releasedPrediction: row.releasedPrediction,
    finalPrediction: row.finalPrediction,
    agrees: row.agrees,
    releasedMs: row.releasedMs,
    finalMs: row.finalMs,
  };
}

/** One JSON object per line, each ending in a newline. */
export function* jsonLines(model: string, rows: Iterable<RequestRow>): Generator<string> {
  for (const row of rows) yield `${JSON.stringify(record(model, row))}\n`;
}

function csvField(value: string | number | boolean): string {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** A header line, then one line per request. */
export function* csvLines(model: string, rows: Iterable<RequestRow>): Generator<string> {
  const columns = ['model', ...EXPORT_COLUMNS] as const;
  yield `${columns.join(',')}\n`;
  for (const row of rows) {
    const values = record(model, row);
    yield `${columns.map((column) => csvField(values[column])).join(',')}\n`;
  }
}
