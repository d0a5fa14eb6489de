/**
 * The client side of the generate route for tests that serve moby-gpt over HTTP (the generate
 * server alone, or the local stack): posting a request and reading its server-sent events, and the
 * plain model's own greedy continuation that a response made before any exit is compared against.
 */
import { ExitDecoder } from '../../core/generate/exit-decoder';
import { MOBY_GPT_DIR } from '../../core/generate/fixture';
import { openDecoderModel } from '../../core/generate/generative-model';

export interface SseEvent {
  readonly event: string;
  readonly data: Record<string, unknown>;
}

/** Posts to a generate route and reads its events to the end (or its JSON error). */
export async function generate(
  url: string,
  body: unknown,
): Promise<{ status: number; events: SseEvent[]; json?: Record<string, unknown> }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.headers.get('content-type')?.startsWith('text/event-stream'))
    return { status: response.status, events: [], json: (await response.json()) as Record<string, unknown> };
  const text = await response.text();
  const events = text
    .split('\n\n')
    .filter((block) => block.trim().length > 0)
    .map((block) => ({
      event: /^event: (.*)$/m.exec(block)?.[1] ?? '',
      data: JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? '{}') as Record<string, unknown>,
    }));
  return { status: response.status, events };
}

/** The tokens the whole moby-gpt model (no exits) continues `prompt` with, greedily, `maxTokens` of them. */
export async function plainGreedyTokens(prompt: string, maxTokens: number): Promise<number[]> {
  const whole = await openDecoderModel(MOBY_GPT_DIR, 'whole');
  try {
    const plain = new ExitDecoder(whole);
    plain.add({ id: 'p', prompt: new TextEncoder().encode(prompt), maxTokens });
    const tokens: number[] = [];
    while (plain.activeRows > 0) tokens.push(...(await plain.step()).emitted.map((e) => e.token));
    return tokens;
  } finally {
    await whole.release();
  }
}
