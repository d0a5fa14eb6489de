/**
 * Observations of a serving stream: for every input, each candidate ramp's confidence and
 * prediction and the full model's prediction. The replay simulator and the offline baselines need
 * all candidates (not only the active ones), so one pass of the plain model with every candidate's
 * pooling computes them; the bundle's trained linear layers are applied here in TypeScript. The
 * result is cached in the bundle's `cache/` folder, keyed by stream, drift and seed.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LoadedBundle } from '../bundle/bundle-io';
import { ArtifactError } from '../errors';
import type { DataSplit } from '../data/dataset';
import { sampleAt } from '../data/dataset';
import { createBatchEncoder, type RawSample } from '../inference/batch-encoding';
import { openSession, type SessionOptions } from '../inference/onnx-session';
import { analyzeGraph } from '../onnx/graph-analysis';
import { inputShapesFromSpec } from '../onnx/input-shapes';
import { readOnnxModel } from '../onnx/onnx-model';
import { buildFeatureModel, featureOutputName } from '../onnx/ramp-heads';
import { parseMemberKey } from '../onnx/ramp-members';
import { argmax, topClass } from '../util/stats';
import { applyDrift, type DriftKind } from './drift';

export interface StreamObservations {
  readonly count: number;
  /** Candidate ids, shallow to deep, as in the bundle. */
  readonly candidates: readonly string[];
  /** confidence[c][i]: max softmax probability of candidate c's ramp on input i. */
  readonly confidence: readonly Float32Array[];
  /** prediction[c][i]: candidate c's ramp's predicted class on input i. */
  readonly prediction: readonly Uint16Array[];
  /** The full model's prediction on input i. */
  readonly finalPrediction: Uint16Array;
}

export interface ObserveOptions extends SessionOptions {
  readonly drift?: DriftKind;
  readonly seed?: number;
  readonly batchSize?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

/** Softmax of `feature·W + b` for one row: returns the max probability and its class. */
export function applyRamp(
  feature: Float32Array,
  offset: number,
  size: number,
  weights: Float32Array,
  bias: Float32Array,
): { confidence: number; prediction: number } {
  const classes = bias.length;
  const logits = Float64Array.from(bias);
  for (let j = 0; j < size; j++) {
    const v = feature[offset + j] as number;
    if (v === 0) continue;
    for (let k = 0; k < classes; k++)
      logits[k] = (logits[k] as number) + v * (weights[j * classes + k] as number);
  }
  const { index, confidence } = topClass(logits, 0, classes);
  return { confidence, prediction: index };
}

function cacheKey(bundle: LoadedBundle, stream: DataSplit, drift: DriftKind, seed: number): string {
  return createHash('sha256')
    .update(bundle.manifest.model.sha256)
    .update(bundle.manifest.createdAt)
    .update(`${stream.kind}:${stream.count}:${drift}:${seed}`)
    .digest('hex')
    .slice(0, 16);
}

async function readCache(
  path: string,
  candidates: number,
  count: number,
): Promise<StreamObservations | null> {
  const bytes = await readFile(path).catch(() => null);
  if (!bytes) return null;
  const expected = candidates * count * 6 + count * 2;
  if (bytes.length !== expected) return null;
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
  const confidence = Array.from(
    { length: candidates },
    (_, c) => new Float32Array(buffer, c * count * 4, count),
  );
  const base = candidates * count * 4;
  const prediction = Array.from(
    { length: candidates },
    (_, c) => new Uint16Array(buffer, base + c * count * 2, count),
  );
  const finalPrediction = new Uint16Array(buffer, base + candidates * count * 2, count);
  return { count, candidates: [], confidence, prediction, finalPrediction };
}

async function writeCache(path: string, observations: StreamObservations): Promise<void> {
  const parts = [
    ...observations.confidence.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)),
    ...observations.prediction.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)),
    Buffer.from(
      observations.finalPrediction.buffer,
      observations.finalPrediction.byteOffset,
      observations.finalPrediction.byteLength,
    ),
  ];
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, Buffer.concat(parts));
  await rename(temp, path);
}

/** Observes every candidate ramp over the whole stream (from cache when available). */
export async function observeStream(
  bundle: LoadedBundle,
  stream: DataSplit,
  options: ObserveOptions = {},
): Promise<StreamObservations> {
  const drift = options.drift ?? 'none';
  const seed = options.seed ?? 20261123;
  const { manifest } = bundle;
  const ids = manifest.candidates.map((c) => c.id);
  const cacheDir = join(bundle.dir, 'cache');
  const cachePath = join(cacheDir, `observations-${cacheKey(bundle, stream, drift, seed)}.bin`);
  const cached = await readCache(cachePath, ids.length, stream.count);
  if (cached) return { ...cached, candidates: ids };

  const onnxModel = await readOnnxModel(bundle.modelPath);
  const analysis = await analyzeGraph(onnxModel, {
    inputShapes: inputShapesFromSpec(manifest.model.spec.inputs),
  });
  const requests = manifest.candidates.map((c) => {
    const found = analysis.candidates.find((a) => a.id === c.id);
    if (!found || found.tensor !== c.tensor) {
      throw new ArtifactError(
        `bundle candidate ${c.id} (${c.tensor}) no longer matches the model's analysis`,
      );
    }
    return { candidateId: c.id, member: parseMemberKey(c.ramp.member) };
  });
  const session = await openSession(buildFeatureModel(onnxModel, analysis, requests), options);
  const encoder = createBatchEncoder(manifest.model.spec);
  const classes = manifest.model.spec.classes.length;
  const logitsName = analysis.outputs[0] as string;
  const count = stream.count;
  const confidence = ids.map(() => new Float32Array(count));
  const prediction = ids.map(() => new Uint16Array(count));
  const finalPrediction = new Uint16Array(count);
  const batchSize = options.batchSize ?? 32;
  try {
    for (let start = 0; start < count; start += batchSize) {
      const rows = Math.min(batchSize, count - start);
      const samples: RawSample[] = [];
      for (let i = 0; i < rows; i++)
        samples.push(applyDrift(sampleAt(stream, start + i), start + i, count, drift, seed));
      const outputs = await session.run(encoder.encode(samples));
      const logits = outputs[logitsName];
      if (!logits) throw new ArtifactError(`model returned no ${logitsName}`);
      for (let row = 0; row < rows; row++)
        finalPrediction[start + row] = argmax(logits.data, row * classes, classes);
      manifest.candidates.forEach((candidate, c) => {
        const feature = outputs[featureOutputName(candidate.id, parseMemberKey(candidate.ramp.member))];
        const ramp = bundle.rampWeights.get(candidate.id);
        if (!feature || !ramp) throw new ArtifactError(`no feature or weights for ${candidate.id}`);
        const size = candidate.ramp.featureSize;
        for (let row = 0; row < rows; row++) {
          const result = applyRamp(feature.data, row * size, size, ramp.weights, ramp.bias);
          (confidence[c] as Float32Array)[start + row] = result.confidence;
          (prediction[c] as Uint16Array)[start + row] = result.prediction;
        }
      });
      options.onProgress?.(start + rows, count);
    }
  } finally {
    await session.release();
  }
  const observations = { count, candidates: ids, confidence, prediction, finalPrediction };
  await mkdir(cacheDir, { recursive: true });
  await writeCache(cachePath, observations);
  return observations;
}
