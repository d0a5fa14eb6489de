/**
 * Writing and reading EE bundles. Ramp weights are stored as raw little-endian float32 (weights
 * [featureSize, classes] row-major, then bias [classes]) beside the manifest: compact, exact, and
 * readable without a protobuf round trip. Reading validates the manifest, the model hash and every
 * weights file's size, so a worker never serves a bundle that is inconsistent with itself.
 */
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ArtifactError } from '../errors';
import { sha256File } from '../model/load-model';
import { readJsonFile } from '../util/json-file';
import { writeDirectoryAtomically } from './atomic-dir';
import { manifestSchema, type BundleManifest } from './manifest';

export const MANIFEST_FILE = 'manifest.json';

export interface RampWeights {
  readonly weights: Float32Array;
  readonly bias: Float32Array;
}

export interface PreparedBundle {
  readonly manifest: BundleManifest;
  /** Path of the original ONNX model, copied into the bundle. */
  readonly modelPath: string;
  readonly rampWeights: ReadonlyMap<string, RampWeights>;
}

export interface LoadedBundle extends PreparedBundle {
  readonly dir: string;
}

/** Writes a prepared bundle into a new directory, atomically (see writeDirectoryAtomically). */
export async function writeBundle(outDir: string, bundle: PreparedBundle): Promise<void> {
  manifestSchema.parse(bundle.manifest);
  await writeDirectoryAtomically(outDir, async (dir) => {
    await copyFile(bundle.modelPath, join(dir, bundle.manifest.model.file));
    for (const candidate of bundle.manifest.candidates) {
      const ramp = bundle.rampWeights.get(candidate.id);
      if (!ramp) throw new ArtifactError(`no trained weights for candidate ${candidate.id}`);
      const bytes = new Float32Array(ramp.weights.length + ramp.bias.length);
      bytes.set(ramp.weights, 0);
      bytes.set(ramp.bias, ramp.weights.length);
      await mkdir(dirname(join(dir, candidate.ramp.weightsFile)), { recursive: true });
      await writeFile(join(dir, candidate.ramp.weightsFile), new Uint8Array(bytes.buffer));
    }
    await writeFile(join(dir, MANIFEST_FILE), `${JSON.stringify(bundle.manifest, null, 2)}\n`);
  });
}

/** Reads and checks a bundle directory. */
export async function readBundle(dir: string): Promise<LoadedBundle> {
  const manifest = await readJsonFile(join(dir, MANIFEST_FILE), manifestSchema, 'bundle manifest');
  const modelPath = join(dir, manifest.model.file);
  const hash = await sha256File(modelPath).catch((cause: unknown) => {
    throw new ArtifactError(`bundle ${dir} lacks its model file ${manifest.model.file}`, { cause });
  });
  if (hash !== manifest.model.sha256) {
    throw new ArtifactError(`bundle ${dir}: model file hash does not match the manifest`);
  }
  const classes = manifest.model.spec.classes.length;
  const rampWeights = new Map<string, RampWeights>();
  for (const candidate of manifest.candidates) {
    const raw = await readFile(join(dir, candidate.ramp.weightsFile));
    const expected = (candidate.ramp.featureSize + 1) * classes * 4;
    if (raw.length !== expected) {
      throw new ArtifactError(
        `bundle ${dir}: ramp ${candidate.id} weights file has ${raw.length} bytes, expected ${expected}`,
      );
    }
    const values = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));
    const split = candidate.ramp.featureSize * classes;
    rampWeights.set(candidate.id, { weights: values.slice(0, split), bias: values.slice(split) });
  }
  return { dir, manifest, modelPath, rampWeights };
}
