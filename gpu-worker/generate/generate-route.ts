/**
 * `POST /v1/models/{model}/generate`: validates the body, admits the request to the model's
 * generation engine, and streams its tokens as server-sent events. Everything that can be refused
 * is refused before the stream starts, with the API's error shape: a bad body (400), an unknown
 * model (404), a prompt that does not fit the model (422), every row busy (429). A client that
 * disconnects frees its row before the next step.
 *
 * Events: `token` ({ index, token, text, exitRamp }) for each token, then `done`
 * ({ tokens, text }) or `error` ({ code, message }). `text` is the UTF-8 text the bytes so far
 * complete (a multi-byte character arrives with its last byte).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  generateBodySchema,
  MAX_GENERATE_BODY_BYTES,
  MAX_GENERATE_TOKENS,
  MAX_TEMPERATURE,
} from '../../core/generate/generate-body';
import { describeIssues, InputError } from '../../core/errors';
import type { GenerationEngine } from './generation-engine';
import { CapacityError } from './generation-loop';
import type { GenerationMetrics } from './generation-metrics';

export {
  generateBodySchema,
  MAX_GENERATE_BODY_BYTES,
  MAX_GENERATE_TOKENS,
  MAX_TEMPERATURE,
  type GenerateBody,
} from '../../core/generate/generate-body';

export interface GenerateRouteOptions {
  readonly engines: ReadonlyMap<string, GenerationEngine>;
  readonly metrics?: GenerationMetrics;
}

/** Writes one JSON error, the API's shape: { error: { code, message } }. */
function fail(
  response: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  const body = JSON.stringify({ error: { code, message } });
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    ...headers,
  });
  response.end(body);
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_GENERATE_BODY_BYTES)
      throw new RangeError(`the body is larger than ${MAX_GENERATE_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new InputError('the body is not JSON; send {"prompt": "...", "maxTokens": 32}');
  }
}

const sse = (event: string, data: unknown): string => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

/** Serves one generate request for `model`. */
export async function serveGenerate(
  request: IncomingMessage,
  response: ServerResponse,
  model: string,
  options: GenerateRouteOptions,
): Promise<void> {
  let raw: unknown;
  try {
    raw = await readJson(request);
  } catch (error) {
    if (error instanceof RangeError) return fail(response, 413, 'body_too_large', error.message);
    return fail(response, 400, 'invalid_body', (error as Error).message);
  }
  const engine = options.engines.get(model);
  if (!engine) {
    const known = [...options.engines.keys()].join(', ') || 'none';
    return fail(response, 404, 'unknown_model', `no generative model named ${model}; served here: ${known}`);
  }
  const parsed = generateBodySchema.safeParse(raw);
  if (!parsed.success)
    return fail(
      response,
      400,
      'invalid_body',
      `${describeIssues(parsed.error.issues)}; allowed: prompt (non-empty string), maxTokens (1..${MAX_GENERATE_TOKENS}), temperature (0..${MAX_TEMPERATURE}), seed (integer)`,
    );
  const body = parsed.data;
  const prompt = new TextEncoder().encode(body.prompt);
  const decoder = new TextDecoder('utf-8');
  const bytes: number[] = [];
  let text = '';
  let ended = false;
  const started = performance.now();
  let previous = started;
  let stream;
  try {
    stream = engine.generate(
      {
        prompt,
        maxTokens: body.maxTokens,
        temperature: body.temperature,
        ...(body.seed === undefined ? {} : { seed: body.seed }),
      },
      {
        onToken: (token) => {
          if (ended) return;
          const now = performance.now();
          options.metrics?.observeToken(
            model,
            token.index === 0 ? null : now - previous,
            token.exitRamp,
            engine.rampCount,
          );
          previous = now;
          bytes.push(token.token);
          const piece = decoder.decode(Uint8Array.of(token.token), { stream: !token.last });
          text += piece;
          response.write(
            sse('token', { index: token.index, token: token.token, text: piece, exitRamp: token.exitRamp }),
          );
          if (token.last) {
            ended = true;
            response.end(sse('done', { tokens: bytes.length, text }));
          }
        },
        onError: (message) => {
          if (ended) return;
          ended = true;
          response.end(sse('error', { code: 'generation_failed', message }));
        },
      },
    );
  } catch (error) {
    if (error instanceof CapacityError)
      return fail(response, 429, 'too_many_requests', error.message, { 'retry-after': '1' });
    if (error instanceof InputError) return fail(response, 422, 'prompt_does_not_fit', error.message);
    throw error;
  }
  response.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  response.flushHeaders();
  response.on('close', () => {
    if (!ended) {
      ended = true;
      stream.cancel();
    }
  });
}
