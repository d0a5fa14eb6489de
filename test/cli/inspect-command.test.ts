import { join } from 'node:path';
import { z } from 'zod';
import { ZOO_MODELS_DIR } from '../../core/zoo/fixtures';
import { runCli } from '../support/run-cli';

const reportSchema = z.object({
  candidateStrategy: z.string(),
  batchSize: z.number(),
  vanillaMs: z.number().positive(),
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
    ['mnist-resnet', 9, [32, 28, 28]],
    ['spam-bert', 6, [128, 128]],
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

  it('refuses a missing model with exit code 2', async () => {
    const result = await runCli(['inspect', '--model', 'nowhere/model.onnx']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/model nowhere\/model.onnx does not exist/);
  });
});
