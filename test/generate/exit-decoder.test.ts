import { InputError } from '../../core/errors';
import { ExitDecoder, type EmittedToken, type TokenRecord } from '../../core/generate/exit-decoder';
import { openDecoderModel, type DecoderModel } from '../../core/generate/generative-model';
import { RowCache } from '../../core/generate/row-cache';
import { runSegmentBatch } from '../../core/generate/segment-batch';
import { MOBY_GPT_DIR } from '../../core/generate/fixture';

const MODEL_DIR = MOBY_GPT_DIR;
const PROMPTS = ['Call me Ishmael. Some years ago', 'The whale', 'And so, at last, the ship'];
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

let whole: DecoderModel;
let chain: DecoderModel;

beforeAll(async () => {
  whole = await openDecoderModel(MODEL_DIR, 'whole');
  chain = await openDecoderModel(MODEL_DIR, 'segments');
});

afterAll(async () => {
  await whole.release();
  await chain.release();
});

/** Runs the whole model over `tokens` from an empty cache: the reference logits and caches. */
async function fullModelPass(tokens: readonly number[]): Promise<{ cache: RowCache; logits: Float32Array }> {
  const { layers, width, context } = whole.spec.architecture;
  const cache = new RowCache(layers, width, context);
  const [out] = await runSegmentBatch(
    whole.segments[0]!,
    [{ cache, count: tokens.length, tokens: { ids: tokens, positions: tokens.map((_, i) => i) } }],
    { width, vocabulary: 256, masked: whole.spec.architecture.attnBiasMasked },
  );
  return { cache, logits: out!.logits };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)));
  return worst;
}

interface Generated {
  readonly texts: Map<string, number[]>;
  readonly emitted: EmittedToken[];
  readonly records: TokenRecord[];
}

/** Runs a decoder over PROMPTS until every row is done; rows in `later` join at step `joinStep`. */
async function generate(
  decoder: ExitDecoder,
  maxTokens: number,
  options: {
    later?: readonly string[];
    joinStep?: number;
    afterStep?: (texts: Map<string, number[]>) => Promise<void>;
  } = {},
): Promise<Generated> {
  const texts = new Map<string, number[]>();
  const emitted: EmittedToken[] = [];
  const records: TokenRecord[] = [];
  const later = options.later ?? [];
  for (const prompt of PROMPTS.filter((p) => !later.includes(p)))
    decoder.add({ id: prompt, prompt: bytes(prompt), maxTokens });
  for (let step = 0; decoder.activeRows > 0 || step <= (options.joinStep ?? -1); step++) {
    if (step === options.joinStep)
      for (const prompt of later) decoder.add({ id: prompt, prompt: bytes(prompt), maxTokens });
    const result = await decoder.step();
    for (const token of result.emitted) {
      emitted.push(token);
      texts.set(token.id, [...(texts.get(token.id) ?? []), token.token]);
    }
    records.push(...result.records);
    if (options.afterStep) await options.afterStep(texts);
  }
  return { texts, emitted, records };
}

describe('the moby-gpt segments with their key-value caches', () => {
  it('chained segments give the whole model’s logits and caches on a prompt', async () => {
    // Given a prompt run through the whole model and through the segment chain
    const tokens = Array.from(bytes(PROMPTS[0]!));
    const reference = await fullModelPass(tokens);
    const { layers, width, context } = chain.spec.architecture;
    const cache = new RowCache(layers, width, context);
    let hidden: Float32Array | null = null;
    let logits: Float32Array = new Float32Array(0);
    for (const segment of chain.segments) {
      const input = segment.takesTokens
        ? { cache, count: tokens.length, tokens: { ids: tokens, positions: tokens.map((_, i) => i) } }
        : { cache, count: tokens.length, hidden: hidden! };
      const [out] = await runSegmentBatch(segment, [input], { width, vocabulary: 256, masked: -1e9 });
      hidden = out!.hidden;
      logits = out!.logits;
    }
    // Then the last segment's logits and every layer's keys and values match within float tolerance
    expect(maxAbsDiff(logits, reference.logits)).toBeLessThan(1e-3);
    for (let layer = 0; layer < layers; layer++) {
      expect(maxAbsDiff(cache.keysOf(layer), reference.cache.keysOf(layer))).toBeLessThan(1e-4);
      expect(maxAbsDiff(cache.valuesOf(layer), reference.cache.valuesOf(layer))).toBeLessThan(1e-4);
    }
  });
});

describe('decoding with exits', () => {
  it('with thresholds at 0 the chain generates exactly the full model’s greedy tokens, rows joining mid-way', async () => {
    // Given the plain model decoding each prompt alone
    const plain = new Map<string, number[]>();
    for (const prompt of PROMPTS) {
      const decoder = new ExitDecoder(whole);
      decoder.add({ id: prompt, prompt: bytes(prompt), maxTokens: 24 });
      const tokens: number[] = [];
      while (decoder.activeRows > 0) tokens.push(...(await decoder.step()).emitted.map((e) => e.token));
      plain.set(prompt, tokens);
    }
    // When the segment chain decodes them batched, thresholds 0, the third row joining at step 5
    const decoder = new ExitDecoder(chain);
    expect(decoder.currentThresholds.every((t) => t === 0)).toBe(true);
    const chained = await generate(decoder, 24, { later: [PROMPTS[2]!], joinStep: 5 });
    // Then every row's tokens equal the plain model's, and nothing exited
    for (const prompt of PROMPTS) expect(chained.texts.get(prompt)).toEqual(plain.get(prompt));
    expect(chained.emitted.every((token) => token.exitRamp === null)).toBe(true);
    expect(chained.records).toHaveLength(3 * 24);
    expect(chained.records.every((record) => record.exitRamp === null)).toBe(true);
  });

  it('after every deferred fill each layer’s cache equals the full model’s on the generated text', async () => {
    // Given thresholds loose enough that many tokens exit and are held
    const decoder = new ExitDecoder(chain, { maxHeldTokens: 4 });
    decoder.setThresholds(new Array<number>(decoder.rampCount).fill(0.6));
    let checked = 0;
    let sawHeld = 0;
    // When it decodes, checking every row with nothing held after each step
    const result = await generate(decoder, 32, {
      afterStep: async (texts) => {
        for (const prompt of PROMPTS) {
          const cache = decoder.cacheOf(prompt);
          if (!cache) continue;
          if (decoder.heldTokens(prompt) > 0) {
            sawHeld++;
            continue;
          }
          // Every layer has processed every position fed so far: the prompt and all but the newest token
          const fed = [...bytes(prompt), ...(texts.get(prompt) ?? []).slice(0, -1)];
          const reference = await fullModelPass(fed);
          for (let layer = 0; layer < cache.layers; layer++) {
            expect(cache.length(layer)).toBe(fed.length);
            expect(maxAbsDiff(cache.keysOf(layer), reference.cache.keysOf(layer))).toBeLessThan(1e-3);
            expect(maxAbsDiff(cache.valuesOf(layer), reference.cache.valuesOf(layer))).toBeLessThan(1e-3);
          }
          checked++;
        }
      },
    });
    // Then tokens exited and were held, every generated position got the full model's verdict, and
    // the caches were compared after fills
    const exited = result.emitted.filter((token) => token.exitRamp !== null).length;
    expect(exited).toBeGreaterThan(0);
    expect(sawHeld).toBeGreaterThan(0);
    expect(result.records).toHaveLength(3 * 32);
    expect(result.records.filter((r) => r.exitRamp !== null)).toHaveLength(exited);
    expect(checked).toBeGreaterThan(0);
  });

  it('refuses bad requests with what is allowed and keeps serving the others', async () => {
    // Given a decoder for at most two rows, one of them admitted
    const decoder = new ExitDecoder(chain, { maxRows: 2 });
    decoder.add({ id: 'ok', prompt: bytes('The sea'), maxTokens: 3 });
    // Then bad requests are refused, each naming what is allowed
    const context = decoder.context;
    expect(() => decoder.add({ id: 'a', prompt: new Uint8Array(0), maxTokens: 4 })).toThrow(
      /prompt is empty/,
    );
    expect(() => decoder.add({ id: 'a', prompt: bytes('x'), maxTokens: 0 })).toThrow(InputError);
    expect(() => decoder.add({ id: 'a', prompt: bytes('x'), maxTokens: context })).toThrow(
      /exceeds the model's context/,
    );
    expect(() => decoder.add({ id: 'a', prompt: bytes('x'), maxTokens: 2, temperature: -1 })).toThrow(
      /temperature/,
    );
    expect(() => decoder.setThresholds([0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])).toThrow(
      /thresholds \(one per ramp\)/,
    );
    decoder.add({ id: 'b', prompt: bytes('x'), maxTokens: 2 });
    expect(() => decoder.add({ id: 'c', prompt: bytes('x'), maxTokens: 2 })).toThrow(/maximum of 2 rows/);
    // And the admitted rows still generate all their tokens
    const counts = new Map<string, number>();
    while (decoder.activeRows > 0)
      for (const token of (await decoder.step()).emitted)
        counts.set(token.id, (counts.get(token.id) ?? 0) + 1);
    expect(counts).toEqual(
      new Map([
        ['ok', 3],
        ['b', 2],
      ]),
    );
  });
});
