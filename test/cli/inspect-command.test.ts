import { join } from 'node:path';
import { z } from 'zod';
import { ZOO_MODELS_DIR } from '../../core/zoo/fixtures';
import { runCli } from '../support/run-cli';
import { PADDLE_CLS_ONNX } from '../support/third-party-models';

const reportSchema = z.object({
  candidateStrategy: z.string(),
  batchSize: z.number(),
  plainMs: z.number().positive(),
  candidates: z.array(
    z.object({
      id: z.string(),
      tensor: z.string(),
      shape: z.array(z.union([z.string(), z.number()])),
      latencyFraction: z.number(),
      costFraction: z.number(),
    }),
  ),
});

describe('apparate inspect', () => {
  it.each([
    ['mnist-resnet', 8, [32, 28, 28]],
    ['spam-bert', 5, [128, 128]],
  ])(
    'lists the %s candidates with tensors, shapes and latency fractions',
    async (name, count, firstShape) => {
      const result = await runCli(['inspect', '--model', join(ZOO_MODELS_DIR, name, 'model.onnx'), '--json']);
      expect(result.code).toBe(0);
      const report = reportSchema.parse(JSON.parse(result.stdout));
      expect(report.candidates).toHaveLength(count);
      expect(report.candidates[0]?.shape.slice(1)).toEqual(firstShape);
      const fractions = report.candidates.map((c) => c.latencyFraction);
      expect(fractions.every((f) => f > 0 && f <= 1)).toBe(true);
      expect(fractions.at(-1)).toBeGreaterThan(fractions[0] as number);
    },
  );

  it('analyses a third-party model with symbolic axes once --input-shape pins them', async () => {
    // Given PaddleOCR's text-direction classifier, whose input is x: [N, 3, H, W]
    // When inspected without a pin, Then it is refused with the axis found and the option to use
    const refused = await runCli(['inspect', '--model', PADDLE_CLS_ONNX, '--json']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      /symbolic dimension p2o\.DynamicDimension\.1 at axis 2.*--input-shape x=3,N,N/,
    );

    // When inspected with x pinned to PaddleOCR's classifier size
    const result = await runCli([
      'inspect',
      '--model',
      PADDLE_CLS_ONNX,
      '--input-shape',
      'x=3,48,192',
      '--json',
    ]);

    // Then its candidates are listed with pinned shapes, none where an exit would save nothing
    expect(result.code).toBe(0);
    const report = reportSchema.parse(JSON.parse(result.stdout));
    expect(report.candidates.length).toBeGreaterThanOrEqual(5);
    expect(report.candidates[0]?.shape).toEqual(['batch', 8, 24, 96]);
    expect(report.candidates.every((c) => c.costFraction < 0.98)).toBe(true);
  });

  it.each([
    ['x=3,48', /gives 2 sizes, but model input x is declared/],
    ['x=3,48,abc', /--input-shape must be NAME=D1,D2,\.\.\. .* got x=3,48,abc/],
    ['pixels=3,48,192', /input shape given for pixels, which the model does not take; its inputs are x/],
  ])('refuses --input-shape %s with exit code 2 and what is allowed', async (value, message) => {
    const result = await runCli(['inspect', '--model', PADDLE_CLS_ONNX, '--input-shape', value]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it('refuses a missing model with exit code 2', async () => {
    const result = await runCli(['inspect', '--model', 'nowhere/model.onnx']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/model nowhere\/model.onnx does not exist/);
  });
});
