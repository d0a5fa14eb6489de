/**
 * Hugging Face tokenizer.json files run by `@huggingface/tokenizers`: a WordPiece file built for
 * spam-bert's own vocabulary must give the ids the model was trained with, and small BPE and
 * Unigram files must give the ids the reference (Rust) implementation wrote beside them
 * (`zoo/recipes/hf_tokenizers.py`).
 */
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sampleAt } from '../../core/data/dataset';
import { createBatchEncoder } from '../../core/inference/batch-encoding';
import { openSession } from '../../core/inference/onnx-session';
import { loadModel } from '../../core/model/load-model';
import { HuggingFaceTokenizer } from '../../core/text/hf-tokenizer';
import { Tokenizer } from '../../core/text/tokenizer';
import { loadFixtureModel, loadModelData, ZOO_MODELS_DIR } from '../../core/zoo/fixtures';
import { argmax } from '../../core/util/stats';

const TOKENIZERS = join(__dirname, '..', '..', 'zoo', 'tokenizers');
const readJson = (path: string): Record<string, unknown> =>
  JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;

/** A tiny tokenizer.json, its reference ids, and the tokenizer built from it (model length 64). */
function tiny(name: string): {
  expected: { text: string; ids: number[] }[];
  tokenizer: HuggingFaceTokenizer;
  json: Record<string, unknown>;
} {
  const expected = JSON.parse(readFileSync(join(TOKENIZERS, name, 'expected.json'), 'utf8')) as {
    text: string;
    ids: number[];
  }[];
  const json = readJson(join(TOKENIZERS, name, 'tokenizer.json'));
  return { expected, tokenizer: new HuggingFaceTokenizer(json, 64), json };
}

/** spam-bert's directory with its model.json naming the tokenizer.json instead of its own tokenizer. */
function spamBertWithTokenizerJson(): string {
  const dir = mkdtempSync(join(tmpdir(), 'apparate-hf-spam-'));
  const source = join(ZOO_MODELS_DIR, 'spam-bert');
  const spec = readJson(join(source, 'model.json'));
  spec['preprocessing'] = { type: 'text', tokenizer: { type: 'huggingface', file: 'tokenizer.json' } };
  writeFileSync(join(dir, 'model.json'), JSON.stringify(spec));
  symlinkSync(join(source, 'model.onnx'), join(dir, 'model.onnx'));
  copyFileSync(join(TOKENIZERS, 'spam-bert', 'tokenizer.json'), join(dir, 'tokenizer.json'));
  return dir;
}

describe('Hugging Face tokenizer.json', () => {
  it("a WordPiece file over spam-bert's vocabulary gives the ids the model was trained with, on every serving e-mail", async () => {
    // Given the recipe's own tokenizer, the ids the training recipe wrote, and the tokenizer.json
    const model = await loadFixtureModel('spam-bert');
    const serving = await loadModelData(model, 'serving');
    const ascii = model.spec.preprocessing.type === 'text' ? model.spec.preprocessing.tokenizer : undefined;
    if (ascii?.type !== 'ascii-words') throw new Error('spam-bert should use the ascii-words tokenizer');
    const recipe = new Tokenizer(ascii);
    const hf = new HuggingFaceTokenizer(readJson(join(TOKENIZERS, 'spam-bert', 'tokenizer.json')), 128);

    // Then the tokenizer.json agrees with the recipe's ids on its 300 recorded e-mails
    const recorded = JSON.parse(
      readFileSync(join(ZOO_MODELS_DIR, 'spam-bert', 'token-ids-sample.json'), 'utf8'),
    ) as { index: number; ids: number[]; mask: number[] }[];
    for (const row of recorded) {
      const sample = sampleAt(serving, row.index);
      const encoded = hf.encode(sample.kind === 'text' ? sample.text : '');
      expect(Array.from(encoded.ids)).toEqual(row.ids);
      expect(Array.from(encoded.mask)).toEqual(row.mask);
    }
    // And with the recipe's tokenizer on all serving e-mails, ids and mask alike
    let differing = 0;
    for (let i = 0; i < serving.count; i++) {
      const sample = sampleAt(serving, i);
      const text = sample.kind === 'text' ? sample.text : '';
      const a = hf.encode(text);
      const b = recipe.encode(text);
      if (a.ids.join() !== b.ids.join() || a.mask.join() !== b.mask.join()) differing++;
    }
    expect(serving.count).toBe(2000);
    expect(differing).toBe(0);
  });

  it('loads with a model.json that names it, and the model gives the same answers as with its own tokenizer', async () => {
    // Given spam-bert described with the tokenizer.json, and as committed
    const viaFile = await loadModel(spamBertWithTokenizerJson());
    const own = await loadFixtureModel('spam-bert');
    const serving = await loadModelData(own, 'serving');
    const samples = Array.from({ length: 48 }, (_, i) => sampleAt(serving, i));

    // When both encode the same 48 serving e-mails
    const a = createBatchEncoder(viaFile.spec).encode(samples);
    const b = createBatchEncoder(own.spec).encode(samples);

    // Then the feeds are identical, and so are the model's answers on them
    expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
    for (const name of Object.keys(a)) expect(a[name]!.data).toEqual(b[name]!.data);
    const session = await openSession(viaFile.onnxPath);
    try {
      const out = (await session.run(a))[session.outputNames[0]!]!.data;
      const labels = samples.map((_, row) => argmax(out, row * 2, 2));
      const accuracy = labels.filter((label, i) => label === serving.labels[i]).length / samples.length;
      expect(accuracy).toBeGreaterThan(0.9);
    } finally {
      await session.release();
    }
  });

  it('a byte-level BPE file gives the reference implementation’s ids, special tokens, truncation and padding included', () => {
    const { expected, tokenizer } = tiny('tiny-bpe');
    // Some texts are long enough to be truncated, so both paths are checked
    expect(expected.some((row) => row.ids.every((id) => id !== 0))).toBe(true);
    for (const row of expected) expect(Array.from(tokenizer.encode(row.text).ids)).toEqual(row.ids);
  });

  it('a Unigram file gives the reference ids, except where two segmentations tie', () => {
    // Given the reference ids and the file's vocabulary ([piece, score] pairs)
    const { expected, tokenizer, json } = tiny('tiny-unigram');
    const pieces = ((json['model'] as { vocab: [string, number][] }).vocab ?? []).map(([piece]) => piece);
    expect(expected.some((row) => row.ids.every((id) => id !== 0))).toBe(true);

    // When every text is encoded here
    const differing = expected.filter((row) => {
      const ids = Array.from(tokenizer.encode(row.text).ids);
      if (ids.join() === row.ids.join()) return false;
      // Then a difference is only another split of the same characters into equally likely pieces
      // ("7000": 7|00|0 there, 7|0|00 here), never other text or other special tokens
      expect(ids.map((id) => pieces[id]).join('')).toBe(row.ids.map((id) => pieces[id]).join(''));
      return true;
    });
    expect(differing.length).toBeLessThanOrEqual(Math.ceil(expected.length * 0.05));
  });

  it('refuses a file that is not a tokenizer.json, saying what it lacks', () => {
    expect(() => new HuggingFaceTokenizer({ version: '1.0' }, 64, 'vocab.json')).toThrow(
      /vocab\.json is not a Hugging Face tokenizer\.json: it has no "model" with a "type"/,
    );
  });
});
