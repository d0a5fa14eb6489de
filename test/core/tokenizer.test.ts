import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { z } from 'zod';
import { splitWords, Tokenizer } from '../../core/text/tokenizer';
import { textRecordSchema } from '../../core/data/dataset-spec';
import { ZOO_DATA_DIR } from '../../core/zoo/fixtures';
import { loadFixtureModel } from '../../core/zoo/fixtures';

const sampleSchema = z.array(
  z.object({ index: z.number().int(), ids: z.array(z.number().int()), mask: z.array(z.number().int()) }),
);

describe('splitWords', () => {
  it('lowercases ASCII only and treats every other character as a separator', () => {
    expect(splitWords('Hello, WORLD-42 naïve Ünïcode\u00a0x')).toEqual([
      'hello',
      'world',
      '42',
      'na',
      've',
      'n',
      'code',
      'x',
    ]);
  });

  it('stops after the requested number of words', () => {
    expect(splitWords('a b c d', 2)).toEqual(['a', 'b']);
  });
});

describe('Tokenizer', () => {
  it('reproduces the recipe token ids for every sampled serving email', async () => {
    // Given the spam model's tokenizer and the ids its Python recipe wrote
    const model = await loadFixtureModel('spam-bert');
    const pre = model.spec.preprocessing;
    if (pre.type !== 'text' || pre.tokenizer.type !== 'ascii-words')
      throw new Error('spam-bert must be a text model with the recipe tokenizer');
    const tokenizer = new Tokenizer(pre.tokenizer);
    const expected = sampleSchema.parse(
      JSON.parse(readFileSync(join(model.dir, 'token-ids-sample.json'), 'utf8')),
    );
    const texts = gunzipSync(readFileSync(join(ZOO_DATA_DIR, 'spam', 'serving.jsonl.gz')))
      .toString('utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => textRecordSchema.parse(JSON.parse(line)).text);
    expect(expected.length).toBeGreaterThanOrEqual(200);

    // When each email is encoded in TypeScript
    const mismatches = expected.filter((sample) => {
      const encoded = tokenizer.encode(texts[sample.index] ?? '');
      return (
        JSON.stringify(Array.from(encoded.ids)) !== JSON.stringify(sample.ids) ||
        JSON.stringify(Array.from(encoded.mask)) !== JSON.stringify(sample.mask)
      );
    });

    // Then every id and mask matches exactly
    expect(mismatches.map((m) => m.index)).toEqual([]);
  });

  it('marks unknown words and pads to the fixed length', async () => {
    const model = await loadFixtureModel('spam-bert');
    const pre = model.spec.preprocessing;
    if (pre.type !== 'text' || pre.tokenizer.type !== 'ascii-words')
      throw new Error('spam-bert must be a text model with the recipe tokenizer');
    const spec = pre.tokenizer;
    const encoded = new Tokenizer(spec).encode('zzqqxxunknownword');
    expect(encoded.length).toBe(2);
    expect(Array.from(encoded.ids.slice(0, 3))).toEqual([spec.clsId, spec.unkId, spec.padId]);
    expect(encoded.ids.length).toBe(spec.maxLength);
    expect(Array.from(encoded.mask.slice(0, 3))).toEqual([1, 1, 0]);
  });
});
