import { MOBY_GPT_DIR } from '../../core/generate/fixture';
import { GenerationEngine } from '../../gpu-worker/generate/generation-engine';
import { GenerationMetrics } from '../../gpu-worker/generate/generation-metrics';
import { startGenerateServer, type GenerateServer } from '../../gpu-worker/generate/generate-server';
import { generate as postGenerate, plainGreedyTokens } from '../support/generate-client';

let engine: GenerationEngine;
let server: GenerateServer;
const metrics = new GenerationMetrics();

beforeAll(async () => {
  // Two rows at most, and no retune within a short request: the first answers are the full model's.
  engine = await GenerationEngine.start({ modelDir: MOBY_GPT_DIR, maxRows: 2, retuneEveryTokens: 1000 });
  server = await startGenerateServer({ engines: new Map([['moby-gpt', engine]]), metrics, port: 0 });
});

afterAll(async () => {
  await server.close();
  await engine.close();
});

/** Posts a generate request for moby-gpt to the server under test. */
function generate(body: unknown): ReturnType<typeof postGenerate> {
  return postGenerate(`${server.url}/v1/models/moby-gpt/generate`, body);
}

describe('POST /v1/models/{model}/generate', () => {
  it('streams the full model’s greedy tokens as server-sent events while thresholds are at 0', async () => {
    // Given the plain model's greedy continuation of a prompt
    const prompt = 'Call me Ishmael. Some years ago';
    const expected = await plainGreedyTokens(prompt, 12);
    // When the same prompt is generated over HTTP
    const { status, events } = await generate({ prompt, maxTokens: 12 });
    // Then 12 token events carry those tokens, and the done event carries their text
    expect(status).toBe(200);
    const tokens = events.filter((e) => e.event === 'token');
    expect(tokens.map((e) => e.data.token)).toEqual(expected);
    expect(tokens.map((e) => e.data.index)).toEqual([...expected.keys()]);
    const done = events.at(-1)!;
    expect(done.event).toBe('done');
    expect(done.data).toEqual({ tokens: 12, text: Buffer.from(expected).toString('utf8') });
    // And the metrics count the tokens and their gaps
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(/apparate_generate_tokens_total\{model="moby-gpt",exit="full"\} \d+/);
    expect(text).toMatch(/apparate_generate_time_per_token_ms_count\{model="moby-gpt"\} \d+/);
  });

  it('answers bad requests with a 4xx that says what is allowed', async () => {
    const empty = await generate({ prompt: '', maxTokens: 4 });
    expect(empty.status).toBe(400);
    expect(JSON.stringify(empty.json)).toMatch(/prompt must not be empty/);
    const zero = await generate({ prompt: 'The', maxTokens: 0 });
    expect(zero.status).toBe(400);
    expect(JSON.stringify(zero.json)).toMatch(/maxTokens \(1\.\.1024\)/);
    const unknownField = await generate({ prompt: 'The', maxTokens: 2, top_k: 3 });
    expect(unknownField.status).toBe(400);
    const long = await generate({ prompt: 'x'.repeat(engine.context), maxTokens: 4 });
    expect(long.status).toBe(422);
    expect(JSON.stringify(long.json)).toMatch(/exceeds the model's context/);
    const other = await fetch(`${server.url}/v1/models/no-such-model/generate`, {
      method: 'POST',
      body: JSON.stringify({ prompt: 'The', maxTokens: 2 }),
    });
    expect(other.status).toBe(404);
    expect(await other.text()).toMatch(/served here: moby-gpt/);
    const wrongMethod = await fetch(`${server.url}/v1/models/moby-gpt/generate`);
    expect(wrongMethod.status).toBe(405);
  });

  it('answers 429 past its rows, and frees a row when its client disconnects', async () => {
    // Given two long streams holding both rows, each read up to its first token
    const body = JSON.stringify({ prompt: 'The whale', maxTokens: engine.context - 16 });
    const open = async (): Promise<AbortController> => {
      const controller = new AbortController();
      const response = await fetch(`${server.url}/v1/models/moby-gpt/generate`, {
        method: 'POST',
        body,
        signal: controller.signal,
      });
      expect(response.status).toBe(200);
      await response.body!.getReader().read();
      return controller;
    };
    const streams = await Promise.all([open(), open()]);
    // When a third request comes, Then it is refused with 429 and a retry hint
    const refused = await fetch(`${server.url}/v1/models/moby-gpt/generate`, { method: 'POST', body });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(await refused.text()).toMatch(/rows are busy/);
    // When both clients disconnect, Then their rows are freed and a new request is served
    for (const stream of streams) stream.abort();
    let status = 429;
    for (let attempt = 0; attempt < 200 && status === 429; attempt++) {
      const next = await generate({ prompt: 'The sea', maxTokens: 2 });
      status = next.status;
      if (status === 429) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(status).toBe(200);
    expect(engine.activeStreams).toBe(0);
  });
});
