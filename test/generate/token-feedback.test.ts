import { ExitDecoder, type TokenRecord } from '../../core/generate/exit-decoder';
import { MOBY_GPT_DIR } from '../../core/generate/fixture';
import { openDecoderModel, type DecoderModel } from '../../core/generate/generative-model';
import { lcsLength, rougeL } from '../../core/generate/text-metrics';
import {
  releasedAgrees,
  retuneTokenThresholds,
  stepCosts,
  TokenWindow,
} from '../../core/generate/token-feedback';

const PROMPTS = ['It was the whale', 'Queequeg was a native of', 'So the ship sailed on, and'];
let chain: DecoderModel;
let observed: TokenRecord[];

/** Decodes PROMPTS with the given thresholds and returns every completed token record. */
async function decodeRecords(thresholds: readonly number[]): Promise<TokenRecord[]> {
  const decoder = new ExitDecoder(chain, { thresholds });
  for (const prompt of PROMPTS)
    decoder.add({ id: prompt, prompt: new TextEncoder().encode(prompt), maxTokens: 40 });
  const records: TokenRecord[] = [];
  while (decoder.activeRows > 0) records.push(...(await decoder.step()).records);
  return records;
}

beforeAll(async () => {
  chain = await openDecoderModel(MOBY_GPT_DIR, 'segments');
  observed = await decodeRecords(new Array<number>(chain.segments.length - 1).fill(0));
});

afterAll(async () => {
  await chain.release();
});

describe('per-token agreement feedback', () => {
  it('records every ramp’s verdict on every generated token when nothing exits', () => {
    // Given decoding with exits off, Then each of the 3 x 40 tokens has a complete, agreeing record
    expect(observed).toHaveLength(PROMPTS.length * 40);
    for (const record of observed) {
      expect(record.confidence).toHaveLength(chain.segments.length - 1);
      expect(record.exitRamp).toBeNull();
      expect(releasedAgrees(record)).toBe(true);
    }
  });

  it('tunes thresholds on the records to the constraint, and the tuned decoder exits and agrees on the window', async () => {
    // Given a window of the observed records and a cost model where deeper segments cost more
    const window = new TokenWindow(chain.segments.length - 1);
    window.push(observed);
    const zeros = new Array<number>(window.rampCount).fill(0);
    // When the thresholds are retuned at 99%
    const result = retuneTokenThresholds(window, zeros, stepCosts([1, 1, 1], 3), 0.99);
    // Then the window meets the constraint under the new thresholds
    expect(result.agreement).toBeGreaterThanOrEqual(0.99);
    expect(['tune', 'none']).toContain(result.action);
    // And decoding the same prompts with them releases exited tokens whose agreement is measured by the fills
    const tuned = await decodeRecords(result.thresholds);
    const live = new TokenWindow(window.rampCount);
    live.push(tuned);
    const exited = tuned.filter((record) => record.exitRamp !== null).length;
    expect(live.exitShares().reduce((a, b) => a + b, 0)).toBeCloseTo(exited / tuned.length, 9);
    expect(exited > 0).toBe(result.thresholds.some((t) => t > 0));
    expect(live.agreement()).toBeGreaterThan(0.9);
  });

  it('the guard lowers thresholds at once when the window misses the constraint', () => {
    // Given thresholds of 1 at every ramp: every token would exit at the first ramp
    const window = new TokenWindow(chain.segments.length - 1);
    window.push(observed);
    const ones = new Array<number>(window.rampCount).fill(1);
    const firstRampAgreement = observed.filter((r) => r.prediction[0] === r.full).length / observed.length;
    // When feedback runs
    const result = retuneTokenThresholds(window, ones, stepCosts([1, 1, 1], 3), 0.99);
    // Then it guards exactly when the first ramp alone misses 99%, and ends at or above 99%
    expect(result.action).toBe(firstRampAgreement < 0.99 ? 'guard' : 'none');
    expect(result.agreement).toBeGreaterThanOrEqual(0.99);
  });

  it('keeps only the newest records and refuses records of another ramp set', () => {
    const window = new TokenWindow(chain.segments.length - 1, 10);
    window.push(observed);
    expect(window.count).toBe(10);
    expect(window.toExitWindow().count).toBe(10);
    expect(() => window.push([{ confidence: [0.5], prediction: [1], full: 1, exitRamp: null }])).toThrow(
      /ramps/,
    );
  });
});

describe('textual consistency', () => {
  it('scores ROUGE-L on words and exact texts as 1', () => {
    expect(lcsLength(['a', 'b', 'c', 'd'], ['a', 'c', 'd', 'e'])).toBe(3);
    expect(rougeL('the white whale', 'the white whale')).toBe(1);
    expect(rougeL('the white whale', 'the grey whale')).toBeCloseTo(2 / 3, 9);
    expect(rougeL('', 'whale')).toBe(0);
  });
});
