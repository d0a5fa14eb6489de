/**
 * `apparate logs`: one model's exit logs over a time range, read by key queries alone (every shard
 * of every minute in the range), summarised for people, exported one row per request as JSON lines
 * or CSV, and plotted. With `--json` or `--csv` the rows go to stdout and the summary to stderr, so
 * a redirect captures clean data and the person at the terminal still sees the figures.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { checkModelId, ConfigStore, DEFAULT_EXIT_LOG_TTL_MS, ExitLogReader } from '../../adapters/dynamo';
import { InputError } from '../../core/errors';
import { configHistory } from '../../core/report/config-history';
import { requestRows, summariseRows } from '../../core/report/exit-log-summary';
import type { Command } from '../command';
import { numberOption, requiredString } from '../options';
import { csvLines, jsonLines } from '../logs/log-export';
import { logsPlot } from '../logs/log-plot';
import { formatLogsReport } from '../logs/log-report';
import { openLogSource } from '../logs/log-source';
import { formatDuration, parseDuration, resolveTimeRange } from '../logs/time-range';
import { CACHE_DIR } from '../stack/stack-options';
import { readStackFile } from '../stack/stack-file';
import { ACCURACY_CONSTRAINT } from '../../core/control/limits';

const stringFlag = (values: Record<string, unknown>, name: string): string | undefined =>
  typeof values[name] === 'string' ? values[name] : undefined;

export const logsCommand: Command = {
  name: 'logs',
  summary: "summarise, export or plot one model's exit logs over a time range",
  usage:
    'apparate logs --model <m> [--since 1h | --from <ISO> [--to <ISO>]] [--json | --csv] [--plot <out.svg>] [--window 1m] [--accuracy 0.99] [--endpoint <url> | --aws --table-prefix <p>]',
  options: {
    model: { type: 'string', description: 'the model whose logs to read (required)' },
    since: { type: 'string', description: 'read this far back from now, e.g. 90s, 10m, 1h, 2d (default 1h)' },
    from: { type: 'string', description: 'start of the range, ISO 8601 (UTC when no offset is given)' },
    to: { type: 'string', description: 'end of the range, ISO 8601 (default now; needs --from)' },
    json: {
      type: 'boolean',
      description: 'print one JSON object per request (JSON lines); summary on stderr',
    },
    csv: { type: 'boolean', description: 'print one CSV row per request, with a header; summary on stderr' },
    plot: { type: 'string', description: 'write agreement and latency over time to this SVG file' },
    window: { type: 'string', description: 'width of an agreement window, e.g. 30s, 1m (default 1m)' },
    accuracy: {
      type: 'string',
      description:
        "the agreement constraint windows are checked against (default the local stack's, else 0.99)",
    },
    'data-dir': { type: 'string', description: "the local stack's data folder (default .cache/local)" },
    endpoint: { type: 'string', description: 'a DynamoDB endpoint to read instead of the local stack' },
    aws: {
      type: 'boolean',
      description: "read a deployment's tables with the AWS SDK's credentials and region",
    },
    'table-prefix': {
      type: 'string',
      description: "tables are <prefix>-exit-logs and <prefix>-configs (default: the local stack's)",
    },
  },
  async run(values, _positionals, io) {
    const model = checkModelId(requiredString(values, 'model', 'model'));
    if (values.json === true && values.csv === true) {
      throw new InputError('give at most one of --json and --csv');
    }
    const range = resolveTimeRange(
      { since: stringFlag(values, 'since'), from: stringFlag(values, 'from'), to: stringFlag(values, 'to') },
      Date.now(),
      DEFAULT_EXIT_LOG_TTL_MS,
    );
    const windowMs = parseDuration('window', stringFlag(values, 'window') ?? '1m');
    const plotPath = stringFlag(values, 'plot');
    if (plotPath !== undefined && !existsSync(dirname(resolve(plotPath)))) {
      throw new InputError(`--plot: the folder ${dirname(resolve(plotPath))} does not exist`);
    }
    const dataDir = resolve(stringFlag(values, 'data-dir') ?? resolve(CACHE_DIR, 'local'));
    const endpoint = stringFlag(values, 'endpoint');
    const tablePrefix = stringFlag(values, 'table-prefix');
    const source = await openLogSource({
      aws: values.aws === true,
      dataDir,
      ...(endpoint === undefined ? {} : { endpoint }),
      ...(tablePrefix === undefined ? {} : { tablePrefix }),
    });
    try {
      const constraint = numberOption(values, 'accuracy', {
        ...ACCURACY_CONSTRAINT,
        default: source.accuracyConstraint ?? ACCURACY_CONSTRAINT.default,
      });
      let expired = 0;
      let invalid = 0;
      const reader = new ExitLogReader({
        client: source.doc,
        tableName: source.tables.exitLogs,
        onExpiredItem: () => expired++,
        onInvalidItem: (report) => {
          invalid++;
          io.stderr.write(`apparate: skipped an exit-log item that fails the schema (${report.reason})\n`);
        },
      });
      const configs = new ConfigStore({
        client: source.doc,
        tableName: source.tables.configs,
        onInvalidConfig: () => undefined,
      });
      const [batches, published] = await Promise.all([
        reader.since(model, range.fromMs, range.toMs).catch((error: unknown) => {
          throw unreachable(error, source.description);
        }),
        configs.history(model, 1000).catch((error: unknown) => {
          throw unreachable(error, source.description);
        }),
      ]);
      const between = `from ${new Date(range.fromMs).toISOString()} to ${new Date(range.toMs).toISOString()}`;
      if (batches.length === 0 && published.length === 0 && expired === 0) {
        const known = readStackFile(dataDir)?.models;
        throw new InputError(
          `model "${model}" is unknown to ${source.description}: it has no published config and no exit logs ${between}` +
            (known === undefined ? '; check the name' : `; this stack serves ${known.join(', ')}`),
        );
      }
      const logged = requestRows(batches);
      const summary = summariseRows(logged, {
        fromMs: range.fromMs,
        toMs: range.toMs,
        constraint,
        windowMs,
      });
      const history = configHistory(
        published.map((entry) => ({ ...entry.config, publishedAtMs: entry.publishedAtMs })),
      );
      const report = io.stderr;
      const out = values.json === true || values.csv === true ? report : io.stdout;
      if (values.json === true) for (const line of jsonLines(model, logged.rows)) io.stdout.write(line);
      if (values.csv === true) for (const line of csvLines(model, logged.rows)) io.stdout.write(line);
      if (logged.rows.length === 0) {
        const latest = history[history.length - 1];
        report.write(
          `apparate: no requests of ${model} were logged ${between}` +
            (expired > 0
              ? `; ${expired} logged batches in this range have expired (exit logs are kept ${formatDuration(DEFAULT_EXIT_LOG_TTL_MS)} and read as absent after that)`
              : '') +
            (latest?.publishedAtMs === undefined
              ? ''
              : `; its latest config, v${latest.version}, was published ${new Date(latest.publishedAtMs).toISOString()}`) +
            '\n',
        );
        if (plotPath !== undefined) report.write('apparate: nothing to plot; no plot written\n');
        return 0;
      }
      out.write(formatLogsReport(model, summary, history));
      if (expired > 0) {
        report.write(
          `apparate: ${expired} logged batches in this range have expired (kept ${formatDuration(DEFAULT_EXIT_LOG_TTL_MS)}) and are left out\n`,
        );
      }
      if (invalid > 0)
        report.write(`apparate: ${invalid} exit-log items failed the schema and are left out\n`);
      if (plotPath !== undefined) {
        writeFileSync(plotPath, logsPlot(model, logged.rows, summary));
        report.write(`apparate: wrote ${plotPath}\n`);
      }
      return 0;
    } finally {
      await source.close();
    }
  },
};

/** A connection failure, said as where the tables were expected and what to do. */
function unreachable(error: unknown, where: string): Error {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof InputError) return error;
  const name = error instanceof Error ? error.name : '';
  if (name === 'ResourceNotFoundException') {
    return new InputError(`the exit-log or config table is missing at ${where}: ${message}`);
  }
  if (/ECONNREFUSED|fetch failed|connect/i.test(message)) {
    return new InputError(
      `cannot reach ${where} (${message}); is the stack still running? start it with npm start, or pass --endpoint`,
    );
  }
  return error instanceof Error ? error : new Error(message);
}
