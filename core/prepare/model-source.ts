/**
 * Resolving what the user pointed at (`--model <dir-or-onnx>`) into a parsed, analysed ONNX model.
 * The ONNX file is read and analysed before anything else about the model is asked for, so a file
 * that is not ONNX, a truncated one, one without a batch dimension or without a candidate position
 * is reported as exactly that, whether or not a model.json sits beside it.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../errors';
import { modelSpecSchema } from '../model/model-spec';
import { analyzeGraph, type GraphAnalysis } from '../onnx/graph-analysis';
import { inputShapesFromSpec, mergeInputShapes, type InputShapes } from '../onnx/input-shapes';
import { readOnnxModel, type OnnxModel } from '../onnx/onnx-model';
import { readJsonFile } from '../util/json-file';

export interface AnalysedSource {
  readonly onnxPath: string;
  readonly onnxModel: OnnxModel;
  readonly analysis: GraphAnalysis;
  /** Whether a model.json describes the model (needed to prepare it, not to inspect it). */
  readonly hasDescription: boolean;
}

/** The ONNX file a model location stands for, and the input shapes its description pins. */
export async function resolveOnnxPath(
  location: string,
): Promise<{ onnxPath: string; hasDescription: boolean; specShapes: InputShapes }> {
  if (!existsSync(location)) {
    throw new InputError(
      `model ${location} does not exist; give a model directory (with model.json) or an .onnx file`,
    );
  }
  if (!statSync(location).isDirectory()) {
    const beside = join(location, '..', 'model.json');
    if (!existsSync(beside)) return { onnxPath: location, hasDescription: false, specShapes: new Map() };
    const spec = await readJsonFile(beside, modelSpecSchema, 'model description');
    return { onnxPath: location, hasDescription: true, specShapes: inputShapesFromSpec(spec.inputs) };
  }
  const description = join(location, 'model.json');
  if (existsSync(description)) {
    const spec = await readJsonFile(description, modelSpecSchema, 'model description');
    return {
      onnxPath: join(location, spec.file),
      hasDescription: true,
      specShapes: inputShapesFromSpec(spec.inputs),
    };
  }
  if (existsSync(join(location, 'model.onnx')))
    return { onnxPath: join(location, 'model.onnx'), hasDescription: false, specShapes: new Map() };
  throw new InputError(`model directory ${location} holds neither model.json nor model.onnx`);
}

/**
 * Reads and analyses the ONNX model at a location. `inputShapes` (from `--input-shape`) pins
 * symbolic input sizes together with those model.json fixes; the two must agree.
 */
export async function analyseSource(location: string, inputShapes?: InputShapes): Promise<AnalysedSource> {
  const { onnxPath, hasDescription, specShapes } = await resolveOnnxPath(location);
  const onnxModel = await readOnnxModel(onnxPath);
  const analysis = await analyzeGraph(onnxModel, { inputShapes: mergeInputShapes(specShapes, inputShapes) });
  return { onnxPath, onnxModel, analysis, hasDescription };
}
