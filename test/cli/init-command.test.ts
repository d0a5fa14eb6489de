/**
 * `apparate init` on models trained elsewhere: the fixture exports stand in for a user's own ONNX
 * files (no model.json beside them in the temporary folder), PaddleOCR's classifier is a real
 * third-party export. Every refusal must say what was wrong and what is allowed.
 */
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../../core/model/load-model';
import { loadSampleInputs } from '../../core/prepare/sample-inputs';
import { ZOO_MODELS_DIR } from '../../core/zoo/fixtures';
import { runCli } from '../support/run-cli';
import { PADDLE_CLS_ONNX } from '../support/third-party-models';

const TOKENIZER = join(__dirname, '..', '..', 'zoo', 'tokenizers', 'spam-bert', 'tokenizer.json');

/** A folder holding only `file`, copied from `source`, as a user's download would be. */
function userFolder(source: string, file = 'model.onnx'): { dir: string; onnx: string } {
  const dir = mkdtempSync(join(tmpdir(), 'apparate-init-'));
  copyFileSync(source, join(dir, file));
  return { dir, onnx: join(dir, file) };
}

describe('apparate init', () => {
  it('writes a checked model.json for an image classifier, classes from a labels file', async () => {
    // Given the digit classifier's ONNX file alone, and a labels file
    const { dir, onnx } = userFolder(join(ZOO_MODELS_DIR, 'mnist-resnet', 'model.onnx'));
    writeFileSync(join(dir, 'labels.txt'), 'zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n');

    // When init describes it as a 28x28 grey image
    const out = join(dir, 'digits');
    const result = await runCli([
      'init',
      '--model',
      onnx,
      '--image',
      '28,28,1',
      '--labels',
      join(dir, 'labels.txt'),
      '--out',
      out,
    ]);

    // Then the model directory loads, with the graph's input, the labels and the fixture's own scaling
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/model digits written to .*: image-classification, 10 classes \(zero, one/);
    const model = await loadModel(out);
    expect(model.spec.name).toBe('digits');
    expect(model.spec.classes[7]).toBe('seven');
    expect(model.spec.inputs).toEqual([{ name: 'pixels', dtype: 'float32', shape: ['batch', 1, 28, 28] }]);
    expect(model.spec.preprocessing).toEqual({
      type: 'image',
      height: 28,
      width: 28,
      channels: 1,
      scale: 1 / 255,
      layout: 'NCHW',
    });
  });

  it('writes a text model that reads its tokenizer.json, and reads text samples one a line', async () => {
    const { dir, onnx } = userFolder(join(ZOO_MODELS_DIR, 'spam-bert', 'model.onnx'));
    const out = join(dir, 'spam');
    const result = await runCli(['init', '--model', onnx, '--tokenizer', TOKENIZER, '--out', out, '--json']);

    expect(result.code).toBe(0);
    const written = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(written['preprocessing']).toEqual({
      type: 'text',
      tokenizer: { type: 'huggingface', file: 'tokenizer.json' },
    });
    expect(written['classes']).toEqual(['0', '1']);
    const model = await loadModel(out);
    expect(readFileSync(join(out, 'tokenizer.json'), 'utf8')).toBe(readFileSync(TOKENIZER, 'utf8'));
    // And a text file of samples becomes a stream of its non-empty lines
    writeFileSync(join(dir, 'samples.txt'), 'Win a free cruise now\n\nMeeting moved to 3pm\n');
    const samples = await loadSampleInputs(join(dir, 'samples.txt'), model.spec);
    expect(samples.stream.count).toBe(2);
  });

  it.each([
    [[], /--model <model\.onnx> is required/],
    [['--image', '28,28,1'], /--model <model\.onnx> is required/],
    [
      ['--model', 'M', '--out', 'O'],
      /give either --tokenizer <tokenizer\.json> \(a text model\) or --image H,W,C/,
    ],
    [
      ['--model', 'M', '--out', 'O', '--image', '28,28,1', '--tokenizer', 'T'],
      /give either --tokenizer .* not both and not neither/,
    ],
    [['--model', 'M', '--out', 'O', '--image', '28,28'], /--image must be H,W,C: .* got 28,28/],
    [['--model', 'M', '--out', 'O', '--image', '28,28,4'], /1 \(grey\) or 3 \(colour\) channels/],
    [['--model', 'M', '--out', 'O', '--image', '28,28,1', '--std', '0'], /--std values must not be 0/],
    [
      ['--model', 'M', '--out', 'O', '--image', '28,28,1', '--channel-order', 'GRB'],
      /--channel-order must be one of RGB, BGR, got GRB/,
    ],
    [
      ['--model', 'M', '--out', 'O', '--tokenizer', 'T', '--mean', '0.5'],
      /--mean describes images; a --tokenizer model takes text/,
    ],
  ])('refuses bad usage %j with exit code 2 and what is allowed', async (args, message) => {
    const result = await runCli(['init', ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it('refuses a description that does not fit the model, saying what the model takes', async () => {
    const { dir, onnx } = userFolder(join(ZOO_MODELS_DIR, 'mnist-resnet', 'model.onnx'));
    const init = (...args: string[]) => runCli(['init', '--model', onnx, '--out', join(dir, 'out'), ...args]);

    const wrongSize = await init('--image', '32,32,3');
    expect(wrongSize.code).toBe(2);
    expect(wrongSize.stderr).toMatch(
      /--image 32,32,3 describes one float32 input \[batch, 3, 32, 32\] \(NCHW\) or \[batch, 32, 32, 3\] \(NHWC\); this model takes pixels float32 \[batch, 1, 28, 28\]/,
    );
    writeFileSync(join(dir, 'three.txt'), 'a\nb\nc\n');
    const wrongLabels = await init('--image', '28,28,1', '--labels', join(dir, 'three.txt'));
    expect(wrongLabels.stderr).toMatch(/the labels file names 3 classes, but the model's output .* has 10/);
    const text = await init('--tokenizer', TOKENIZER);
    expect(text.stderr).toMatch(
      /--tokenizer is for text models, which take int64 token ids \[batch, length\]; this model takes pixels float32/,
    );
    const meanCount = await init('--image', '28,28,1', '--mean', '0.1,0.2');
    expect(meanCount.stderr).toMatch(/--mean needs one value or one per channel \(1\); got 2/);

    // A third-party model with open sizes is refused until they are pinned
    const paddle = userFolder(PADDLE_CLS_ONNX, 'cls.onnx');
    const open = await runCli([
      'init',
      '--model',
      paddle.onnx,
      '--image',
      '48,192,3',
      '--out',
      join(paddle.dir, 'cls'),
    ]);
    expect(open.code).toBe(2);
    expect(open.stderr).toMatch(/model input x has symbolic dimension .* --input-shape x=3,N,N/);
  });
});
