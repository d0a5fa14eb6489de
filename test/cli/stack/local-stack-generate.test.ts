/**
 * Generation on the local stack, through its HTTP server: the moby-gpt fixture served beside the
 * classifiers' routes by the stack `npm start` runs, its tokens streamed as server-sent events, and
 * every step's token records written to the stack's exit-log table (dynalite), where
 * `apparate logs --model moby-gpt` reads them back. The stack's `/metrics` serves the generation
 * metrics beside the API's, read with a strict parser of the exposition format.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { logsCommand } from '../../../cli/commands/logs';
import type { LocalStack } from '../../../cli/stack/local-stack';
import { startTestStack } from '../../support/local-stack';
import { MOBY_GPT_DIR } from '../../../core/generate/fixture';
import { generate, plainGreedyTokens } from '../../support/generate-client';
import { parseExposition, sampleValue } from '../../support/prometheus-text';

jest.setTimeout(300_000);

/** Runs `apparate logs --model moby-gpt --json` against the stack's data folder; the rows it prints. */
async function loggedRows(dataDir: string): Promise<Record<string, unknown>[]> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const chunks: Buffer[] = [];
  stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  stderr.resume();
  await logsCommand.run({ model: 'moby-gpt', json: true, since: '10m', 'data-dir': dataDir }, [], {
    stdout,
    stderr,
  });
  return Buffer.concat(chunks)
    .toString('utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('generation on the local stack', () => {
  let stack: LocalStack;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'apparate-stack-generate-'));
    stack = await startTestStack('stack-generate', {
      dataDir,
      // No classifier workers: this test is about the generate route beside the API's own.
      bundles: [],
      models: [],
      generativeModels: [MOBY_GPT_DIR],
      configPollMs: 1000,
    });
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('streams the full model’s greedy tokens from POST /v1/models/moby-gpt/generate and logs every position', async () => {
    // Given the plain model's greedy continuation of a prompt
    const prompt = 'Call me Ishmael. Some years ago';
    const expected = await plainGreedyTokens(prompt, 12);

    // When the stack generates it (thresholds start at 0: the bootstrap, nothing exits yet)
    const { status, events } = await generate(`${stack.url}/v1/models/moby-gpt/generate`, {
      prompt,
      maxTokens: 12,
    });

    // Then the stream carries those tokens and ends with their text
    expect(status).toBe(200);
    const tokens = events.filter((e) => e.event === 'token');
    expect(tokens.map((e) => e.data['token'])).toEqual(expected);
    expect(tokens.every((e) => e.data['exitRamp'] === null)).toBe(true);
    expect(events.at(-1)).toEqual({
      event: 'done',
      data: { tokens: 12, text: Buffer.from(expected).toString('utf8') },
    });

    // And `apparate logs` finds one record per generated position in the exit-log table, each the
    // full model's own token (so agreeing), once the writer's background flush has run
    let rows: Record<string, unknown>[] = [];
    const giveUpAt = Date.now() + 30_000;
    while (rows.length < 12 && Date.now() < giveUpAt) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      rows = await loggedRows(dataDir).catch(() => []);
    }
    expect(rows).toHaveLength(12);
    expect(rows.every((row) => row['exit'] === 'final' && row['agrees'] === true)).toBe(true);
    expect(new Set(rows.map((row) => row['requestId'])).size).toBe(12);
  });

  it('serves the generation metrics at the stack’s /metrics beside the API’s own', async () => {
    // Given one generation of 4 tokens through the stack
    const before = parseExposition(await (await fetch(`${stack.url}/metrics`)).text());
    const tokensBefore =
      sampleValue(before, 'apparate_generate_tokens_total', { model: 'moby-gpt', exit: 'full' }) ?? 0;
    const gapsBefore =
      sampleValue(before, 'apparate_generate_time_per_token_ms_count', { model: 'moby-gpt' }) ?? 0;
    const { status } = await generate(`${stack.url}/v1/models/moby-gpt/generate`, {
      prompt: 'It is a way I have',
      maxTokens: 4,
    });
    expect(status).toBe(200);

    // When the stack's /metrics is scraped
    const response = await fetch(`${stack.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const families = parseExposition(await response.text());

    // Then the generation families are there, counting those tokens (every one from the full model,
    // thresholds still at their bootstrap) and the three gaps between them
    expect(families.get('apparate_generate_tokens_total')?.type).toBe('counter');
    expect(families.get('apparate_generate_time_per_token_ms')?.type).toBe('histogram');
    expect(sampleValue(families, 'apparate_generate_tokens_total', { model: 'moby-gpt', exit: 'full' })).toBe(
      tokensBefore + 4,
    );
    expect(sampleValue(families, 'apparate_generate_time_per_token_ms_count', { model: 'moby-gpt' })).toBe(
      gapsBefore + 3,
    );
    // And the API's own families beside them
    expect(families.get('apparate_api_requests_total')?.type).toBe('counter');
    expect(families.has('apparate_api_admitted_total')).toBe(true);
  });

  it('refuses what it cannot serve before any stream starts, in the API’s error shape', async () => {
    const unknown = await generate(`${stack.url}/v1/models/no-such-model/generate`, { prompt: 'x' });
    expect(unknown.status).toBe(404);
    expect(unknown.json).toEqual({
      error: { code: 'unknown_model', message: expect.stringMatching(/served here: moby-gpt/) as unknown },
    });

    const tooLong = await generate(`${stack.url}/v1/models/moby-gpt/generate`, {
      prompt: 'x'.repeat(100),
      maxTokens: 100,
    });
    expect(tooLong.status).toBe(422);

    const bad = await generate(`${stack.url}/v1/models/moby-gpt/generate`, { prompt: 'x', maxTokens: 0 });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.json)).toMatch(/maxTokens \(1\.\.1024\)/);

    const wrongMethod = await fetch(`${stack.url}/v1/models/moby-gpt/generate`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
  });
});
