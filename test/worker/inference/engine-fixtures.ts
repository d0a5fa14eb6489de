/**
 * Shared pieces of the inference-engine tests: real fixture bundles prepared into a temporary
 * directory (quickly: few profiling repeats), real serving inputs encoded as the worker encodes
 * them, and the independent references the engine's outputs are checked against.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  readBundle,
  writeBundle,
  type LoadedBundle,
  type PreparedBundle,
} from '../../../core/bundle/bundle-io';
import type { RampConfig } from '../../../core/control/ramp-config';
import { sampleAt, type DataSplit } from '../../../core/data/dataset';
import { createBatchEncoder, type PlainFeeds } from '../../../core/inference/batch-encoding';
import { openSession } from '../../../core/inference/onnx-session';
import type { LoadedModel } from '../../../core/model/load-model';
import { analyzeGraph } from '../../../core/onnx/graph-analysis';
import { readOnnxModel } from '../../../core/onnx/onnx-model';
import { buildFeatureModel, featureOutputName } from '../../../core/onnx/ramp-heads';
import { parseMemberKey } from '../../../core/onnx/ramp-members';
import { prepareDeterministicFixture } from '../../support/deterministic-profile';
import { applyRamp } from '../../../core/simulator/observations';
import type {
  BatchTimings,
  InferenceEngine,
  RampEvent,
} from '../../../gpu-worker/inference/inference-engine';

export { maxAbsDiff } from '../../../core/inference/segment-chain';

/** A fixture model, its serving stream, and a bundle prepared from them on disk. */
export interface FixtureBundle {
  readonly fixture: LoadedModel;
  readonly serving: DataSplit;
  readonly prepared: PreparedBundle;
  readonly bundle: LoadedBundle;
  /** A fresh temporary directory holding the bundle (as `bundle.dir`); remove it after the tests. */
  readonly workDir: string;
}

/** Prepares a fixture's bundle into a new temporary directory, as `apparate prepare` would. */
export async function prepareFixtureBundle(name: string): Promise<FixtureBundle> {
  // A deterministic latency profile keeps the initial ramp set the same on every machine.
  const { fixture, serving, prepared } = await prepareDeterministicFixture(name);
  const workDir = mkdtempSync(join(tmpdir(), `apparate-engine-${name}-`));
  await writeBundle(join(workDir, 'bundle'), prepared);
  return { fixture, serving, prepared, bundle: await readBundle(join(workDir, 'bundle')), workDir };
}

/** Serving samples `start` .. `start + rows - 1`, encoded and padded to `padded` rows. */
export function servingFeeds(fixture: FixtureBundle, start: number, rows: number, padded = rows): PlainFeeds {
  const samples = Array.from({ length: rows }, (_, i) =>
    sampleAt(fixture.serving, (start + i) % fixture.serving.count),
  );
  return createBatchEncoder(fixture.fixture.spec).encode(samples, padded);
}

/** An exact copy of the feeds, for when the engine takes (detaches) the originals. */
export function copyFeeds(feeds: PlainFeeds): PlainFeeds {
  const copy: PlainFeeds = {};
  for (const [name, tensor] of Object.entries(feeds)) {
    copy[name] = {
      dtype: tensor.dtype,
      data: tensor.data.slice(),
      dims: [...tensor.dims],
    };
  }
  return copy;
}

/** One ramp's answer for one input, as the TypeScript reference computes it. */
export interface ReferenceRampRow {
  readonly confidence: number;
  readonly prediction: number;
}

/** What the unsliced model says about a batch, independently of the engine. */
export interface Reference {
  /** The plain model's logits for the real rows, from one session over the original file. */
  readonly logits: Float32Array;
  /** Per candidate: each real row's ramp confidence and prediction (pooling in ONNX, then the TS ramp). */
  readonly ramps: ReadonlyMap<string, readonly ReferenceRampRow[]>;
}

/**
 * Computes the reference for a batch: the plain model in one session for the logits, and for the
 * ramps the pooled features of the unsliced model (the ones the ramps were trained on) passed
 * through the bundle's linear layers by the TypeScript reference `applyRamp`. Nothing here is
 * sliced, attached or threaded, so agreement checks the engine's whole serving path.
 */
export async function referenceOutputs(
  bundle: LoadedBundle,
  feeds: PlainFeeds,
  rows: number,
  candidateIds: readonly string[],
): Promise<Reference> {
  const plain = await openSession(bundle.modelPath);
  const outputName = plain.outputNames[0] as string;
  const logitsTensor = (await plain.run(feeds))[outputName];
  await plain.release();
  if (!logitsTensor) throw new Error('the plain model gave no logits');
  const classes = bundle.manifest.model.spec.classes.length;

  const onnxModel = await readOnnxModel(bundle.modelPath);
  const analysis = await analyzeGraph(onnxModel);
  const records = new Map(bundle.manifest.candidates.map((c) => [c.id, c]));
  const requests = candidateIds.map((id) => ({
    candidateId: id,
    member: parseMemberKey(records.get(id)?.ramp.member ?? 'unknown'),
  }));
  const featureModel = await openSession(buildFeatureModel(onnxModel, analysis, requests));
  const outputs = await featureModel.run(feeds);
  await featureModel.release();
  const ramps = new Map<string, ReferenceRampRow[]>();
  for (const request of requests) {
    const feature = outputs[featureOutputName(request.candidateId, request.member)];
    const weights = bundle.rampWeights.get(request.candidateId);
    if (!feature || !weights) throw new Error(`no feature or weights for ${request.candidateId}`);
    const size = feature.dims[1] as number;
    ramps.set(
      request.candidateId,
      Array.from({ length: rows }, (_, row) =>
        applyRamp(feature.data, row * size, size, weights.weights, weights.bias),
      ),
    );
  }
  return { logits: logitsTensor.data.slice(0, rows * classes), ramps };
}

/** Index of the largest of `width` values starting at `offset`. */
export function argmaxAt(values: ArrayLike<number>, offset: number, width: number): number {
  let best = 0;
  for (let k = 1; k < width; k++) {
    if ((values[offset + k] as number) > (values[offset + best] as number)) best = k;
  }
  return best;
}

/** A batch run through the engine, with its ramp events and when its promise settled. */
export interface ObservedRun {
  readonly events: RampEvent[];
  readonly logits: Float32Array;
  readonly timings: BatchTimings;
  /** `performance.now()` on the main thread when the run's promise resolved. */
  readonly resolvedAtMs: number;
  /** Whether the run's promise had settled when each ramp event arrived, in event order. */
  readonly settledAtEvent: boolean[];
}

/** Runs a batch and records everything observable from the main thread. */
export async function observeRun(
  engine: InferenceEngine,
  feeds: PlainFeeds,
  rows: number,
  thresholds?: readonly number[],
): Promise<ObservedRun> {
  const events: RampEvent[] = [];
  const settledAtEvent: boolean[] = [];
  let settled = false;
  const outcome = await engine
    .run(
      feeds,
      rows,
      (event) => {
        events.push(event);
        settledAtEvent.push(settled);
      },
      thresholds,
    )
    .finally(() => {
      settled = true;
    });
  return { events, ...outcome, resolvedAtMs: performance.now(), settledAtEvent };
}

/** A config newer than a prepared mnist-resnet bundle's initial one, with another ramp set. */
export const MNIST_THREE_RAMPS: RampConfig = {
  version: 1,
  ramps: [
    { id: 'c0', threshold: 0.1 },
    { id: 'c2', threshold: 0.05 },
    { id: 'c5', threshold: 0.02 },
  ],
};
