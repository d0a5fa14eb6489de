/**
 * `apparate logs` against real tables in dynalite: batches written by the worker's exit-log writer
 * and configs published through the config store, read back by the command as a user runs it.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { ConfigStore } from '../../adapters/dynamo/config-store';
import { ExitLogWriter, type ExitLogItem } from '../../adapters/dynamo';
import type { TableNames } from '../../adapters/dynamo/tables';
import { main } from '../../cli/main';
import { startLocalDynamo, type LocalDynamo } from '../adapters/dynamo/local-dynamo';

const MODEL = 'mnist-resnet';

/** Runs the CLI, returning its exit code and what it printed. */
async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (chunk: Buffer) => out.push(chunk));
  stderr.on('data', (chunk: Buffer) => err.push(chunk));
  const code = await main(args, { stdout, stderr });
  return { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}

/**
 * A batch of `size` requests: request i exits at block1 when i % 4 === 1 (agreeing), at block3 when
 * i % 4 === 2 (disagreeing when `disagree`), else runs to the end.
 */
function batch(
  batchId: string,
  startedAtMs: number,
  configVersion: number,
  size: number,
  disagree: boolean,
): ExitLogItem {
  return {
    model: MODEL,
    batchId,
    startedAtMs,
    configVersion,
    batchSize: size,
    paddedSize: size,
    requests: Array.from({ length: size }, (_, i) => ({
      requestId: `${batchId}-r${i}`,
      exit: i % 4 === 1 ? 'block1' : i % 4 === 2 ? 'block3' : 'final',
      releasedMs: i % 4 === 1 || i % 4 === 2 ? 3 + i : 10 + i,
      finalMs: 10 + i,
      ramps: [
        { id: 'block1', confidence: 0.9, prediction: i % 10 },
        { id: 'block3', confidence: 0.95, prediction: disagree && i % 4 === 2 ? (i + 1) % 10 : i % 10 },
      ],
      finalPrediction: i % 10,
    })),
  };
}

let local: LocalDynamo;
let tables: TableNames;
let prefix: string;
const nowMs = Date.now();
/** Two minutes ago, where the batches start, 10 s apart. */
const startMs = nowMs - 120_000;

beforeAll(async () => {
  local = await startLocalDynamo();
  tables = await local.freshTables();
  prefix = tables.exitLogs.replace(/-exit-logs$/, '');
  const configs = new ConfigStore({ client: local.doc, tableName: tables.configs });
  await configs.publish(MODEL, {
    version: 1,
    ramps: [
      { id: 'block1', threshold: 0.01 },
      { id: 'block3', threshold: 0.02 },
    ],
  });
  await configs.publish(MODEL, {
    version: 2,
    ramps: [
      { id: 'block1', threshold: 0.03 },
      { id: 'block3', threshold: 0.05 },
    ],
  });
  const writer = new ExitLogWriter({ client: local.doc, tableName: tables.exitLogs });
  // Six batches of 8 under v1 that all agree, then six under v2 whose block3 exits disagree.
  for (let i = 0; i < 12; i++) {
    writer.record(batch(`w1-${String(i).padStart(4, '0')}`, startMs + i * 10_000, i < 6 ? 1 : 2, 8, i >= 6));
  }
  // A redelivered request, logged again in a later batch: counted once.
  const repeat = batch('w2-0000', startMs + 115_000, 2, 1, false);
  writer.record({
    ...repeat,
    requests: [{ ...(repeat.requests[0] as ExitLogItem['requests'][number]), requestId: 'w1-0000-r0' }],
  });
  // An old batch whose TTL has passed: dynalite keeps it, the reader must treat it as absent.
  const expiring = new ExitLogWriter({ client: local.doc, tableName: tables.exitLogs, ttlMs: 60_000 });
  expiring.record(batch('old-0000', nowMs - 30 * 60_000, 1, 4, false));
  await Promise.all([writer.close(), expiring.close()]);
});

afterAll(async () => {
  await local.close();
});

const source = (): string[] => ['--endpoint', local.endpoint, '--table-prefix', prefix];

describe('apparate logs', () => {
  it('summarises a range: requests, exits, agreement per window, latency and config versions', async () => {
    const { code, stdout, stderr } = await run(['logs', '--model', MODEL, '--since', '5m', ...source()]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    // 12 batches of 8; the repeated request counts once.
    expect(stdout).toMatch(/mnist-resnet: 96 requests from /);
    expect(stdout).toContain('1 repeated servings of the same requests');
    // Each batch of 8: two exits at block1, two at block3, four final.
    expect(stdout).toMatch(/block1\s+24\s+25\.00%/);
    expect(stdout).toMatch(/block3\s+24\s+25\.00%/);
    expect(stdout).toMatch(/final\s+48\s+50\.00%/);
    // v2's 12 block3 exits disagree: 84 of 96 agree.
    expect(stdout).toContain('agreement with the full model: 87.50% (constraint 99.00%;');
    expect(stdout).toMatch(/v1\s+48 req\s+published .*: block1=0\.010 block3=0\.020/);
    expect(stdout).toMatch(/v2\s+48 req\s+published .*, thresholds changed: block1=0\.030 block3=0\.050/);
    expect(stdout).toMatch(/BELOW\s+config v2/);
  });

  it('exports one JSON line per request whose agreement matches the summary', async () => {
    const { code, stdout, stderr } = await run([
      'logs',
      '--model',
      MODEL,
      '--since',
      '5m',
      '--json',
      ...source(),
    ]);
    expect(code).toBe(0);
    const rows = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(rows).toHaveLength(96);
    expect(new Set(rows.map((row) => row['requestId'])).size).toBe(96);
    expect(rows.filter((row) => row['agrees'] === true)).toHaveLength(84);
    expect(rows[0]).toMatchObject({ model: MODEL, requestId: 'w1-0000-r0', configVersion: 1, exit: 'final' });
    // The summary goes to stderr so that stdout stays clean data.
    expect(stderr).toContain('agreement with the full model: 87.50%');
  });

  it('exports CSV with a header and one row per request', async () => {
    const { code, stdout } = await run(['logs', '--model', MODEL, '--since', '5m', '--csv', ...source()]);
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toBe(
      'model,requestId,batchId,startedAt,startedAtMs,configVersion,exit,releasedPrediction,finalPrediction,agrees,releasedMs,finalMs',
    );
    expect(lines).toHaveLength(97);
    expect(lines.filter((line) => line.includes(',false,'))).toHaveLength(12);
  });

  it('plots agreement and latency with the config change marked', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'apparate-logs-')), 'logs.svg');
    const { code, stderr } = await run([
      'logs',
      '--model',
      MODEL,
      '--since',
      '5m',
      '--plot',
      path,
      ...source(),
    ]);
    expect(code).toBe(0);
    expect(stderr).toContain(`wrote ${path}`);
    const svg = readFileSync(path, 'utf8');
    expect(svg).toContain('agreement with the full model per 60 s window');
    expect(svg).toContain('released versus final latency');
    expect(svg).toContain('config v2 took over');
    expect(svg.match(/stroke-dasharray/g)).toHaveLength(2);
  });

  it('reads a --from/--to range by its batch start times', async () => {
    const from = new Date(startMs).toISOString();
    const to = new Date(startMs + 60_000).toISOString();
    const { code, stdout } = await run(['logs', '--model', MODEL, '--from', from, '--to', to, ...source()]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/mnist-resnet: 48 requests from /);
    expect(stdout).toContain('agreement with the full model: 100.00%');
  });

  it('says when a range holds only expired logs', async () => {
    const from = new Date(nowMs - 31 * 60_000).toISOString();
    const to = new Date(nowMs - 29 * 60_000).toISOString();
    const { code, stdout, stderr } = await run([
      'logs',
      '--model',
      MODEL,
      '--from',
      from,
      '--to',
      to,
      ...source(),
    ]);
    expect(code).toBe(0);
    expect(stdout).toBe('');
    expect(stderr).toContain('no requests of mnist-resnet were logged from');
    expect(stderr).toContain('1 logged batches in this range have expired');
    expect(stderr).toContain('its latest config, v2, was published');
  });

  it('says when a range is empty', async () => {
    const from = new Date(nowMs - 100 * 60_000).toISOString();
    const to = new Date(nowMs - 90 * 60_000).toISOString();
    const { code, stderr } = await run(['logs', '--model', MODEL, '--from', from, '--to', to, ...source()]);
    expect(code).toBe(0);
    expect(stderr).toMatch(/no requests of mnist-resnet were logged from .*; its latest config, v2/);
  });

  it('refuses an unknown model, naming where it looked', async () => {
    const { code, stderr } = await run(['logs', '--model', 'no-such-model', '--since', '5m', ...source()]);
    expect(code).toBe(2);
    expect(stderr).toContain('model "no-such-model" is unknown to');
    expect(stderr).toContain('no published config and no exit logs');
  });

  it.each([
    [['--since', '10 minutes'], '--since must be a number and a unit'],
    [['--since', '0s'], 'greater than zero'],
    [['--since', '8d'], 'at most 7d can be read at once'],
    [['--since', '1h', '--from', '2026-01-01T00:00:00Z'], 'either --since <duration> or --from'],
    [['--to', '2026-01-01T00:00:00Z'], '--to needs --from'],
    [['--from', 'yesterday'], '--from must be an ISO 8601 time'],
    [['--from', '2026-01-02T00:00:00Z', '--to', '2026-01-01T00:00:00Z'], 'must be after --from'],
    [['--from', '2999-01-01T00:00:00Z'], 'is in the future'],
    [['--json', '--csv'], 'at most one of --json and --csv'],
    [['--window', 'soon'], '--window must be'],
    [['--accuracy', '2'], '--accuracy must be'],
  ])('refuses bad flags %j with a message saying what is allowed', async (flags, message) => {
    const { code, stdout, stderr } = await run(['logs', '--model', MODEL, ...flags, ...source()]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(message);
  });

  it('says how to name a source when no local stack is found', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'apparate-logs-none-'));
    const { code, stderr } = await run(['logs', '--model', MODEL, '--data-dir', empty]);
    expect(code).toBe(2);
    expect(stderr).toContain(`no local stack found in ${empty}`);
  });
});
