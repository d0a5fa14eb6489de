import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../../core/errors';
import { analyzeGraph } from '../../core/onnx/graph-analysis';
import { decodeOnnxModel, readOnnxModel } from '../../core/onnx/onnx-model';
import { SeededRandom } from '../../core/util/random';
import { ZOO_MODELS_DIR } from '../../core/zoo/fixtures';
import { fixedBatchModel, graphlessModels, loneGemmModel } from './tiny-models';

const REPO_ROOT = join(__dirname, '..', '..');

/** Runs `act` and returns the InputError it throws, failing the test for anything else. */
async function inputErrorOf(act: () => unknown): Promise<InputError> {
  try {
    await act();
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return error as InputError;
  }
  throw new Error('expected an InputError, but nothing was thrown');
}

describe('reading files that are not usable ONNX models', () => {
  it('refuses a text file, by path and by bytes, saying it is not an ONNX model', async () => {
    // Given package.json, which is not a protobuf
    const path = join(REPO_ROOT, 'package.json');
    const bytes = await readFile(path);

    // Then both ways of reading it fail with one line naming the problem and what is accepted
    const byPath = await inputErrorOf(() => readOnnxModel(path));
    expect(byPath.message).toMatch(
      new RegExp(`^file ${path} cannot be read as an ONNX model: it is not an ONNX protobuf`),
    );
    expect(byPath.message).toMatch(/give an \.onnx file/);
    expect(byPath.message).not.toContain('\n');
    const byBytes = await inputErrorOf(() => decodeOnnxModel(bytes));
    expect(byBytes.message).toMatch(/cannot be read as an ONNX model/);
  });

  it('refuses random bytes and an empty file', async () => {
    const random = new SeededRandom(99);
    const noise = Uint8Array.from({ length: 4096 }, () => Math.floor(random.next() * 256));
    expect((await inputErrorOf(() => decodeOnnxModel(noise))).message).toMatch(/ONNX model/);
    expect((await inputErrorOf(() => decodeOnnxModel(new Uint8Array(0)))).message).toMatch(
      /is empty, not an ONNX model/,
    );
  });

  it('refuses a truncated copy of a fixture model, calling it truncated', async () => {
    // Given the first 1000 bytes of the MNIST model
    const bytes = await readFile(join(ZOO_MODELS_DIR, 'mnist-resnet', 'model.onnx'));
    const truncated = bytes.subarray(0, 1000);

    // Then reading it fails and says the file is truncated or corrupt
    const error = await inputErrorOf(() => decodeOnnxModel(truncated, 'file model.onnx'));
    expect(error.message).toMatch(
      /^file model\.onnx cannot be read as an ONNX model: .*truncated or corrupt/,
    );
  });

  it('refuses a model without a graph and a graph without nodes', async () => {
    const { noGraph, noNodes } = graphlessModels();
    expect((await inputErrorOf(() => decodeOnnxModel(noGraph))).message).toMatch(
      /is an ONNX model without a graph/,
    );
    expect((await inputErrorOf(() => decodeOnnxModel(noNodes))).message).toMatch(
      /has an ONNX graph without nodes/,
    );
  });

  it('refuses a path that does not exist', async () => {
    const error = await inputErrorOf(() => readOnnxModel('/nonexistent/model.onnx'));
    expect(error.message).toMatch(/^model file \/nonexistent\/model\.onnx does not exist/);
  });
});

describe('analysing models that cannot be served with early exits', () => {
  it('refuses a model whose input has a fixed batch dimension', async () => {
    // Given a model whose input x is declared [4, 8]
    const model = decodeOnnxModel(fixedBatchModel());

    // Then analysis names the input, its fixed size and the fix
    const error = await inputErrorOf(() => analyzeGraph(model));
    expect(error.message).toBe(
      'model has no batch dimension: input x has fixed first dimension 4; export it with a dynamic batch axis',
    );
  });

  it('refuses a model with no candidate position', async () => {
    // Given a lone Gemm classifier
    const model = decodeOnnxModel(loneGemmModel());

    // Then analysis says there is no point to attach a ramp at
    const error = await inputErrorOf(() => analyzeGraph(model));
    expect(error.message).toMatch(
      /^model has no candidate position: no point in its graph is crossed by a single activation tensor/,
    );
  });
});
