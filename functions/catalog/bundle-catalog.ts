/**
 * Where the functions learn which models are served and what their bundles say (input spec,
 * classes, candidates, initial config). The functions never load ONNX: they only need the manifest,
 * so both catalogs read `manifest.json` alone and validate it with the bundle's own schema. Locally
 * the manifest sits in a bundle directory; on AWS it sits in S3 beside the bundle the worker loads.
 */
import { join } from 'node:path';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ArtifactError, describeIssues } from '../../core/errors';
import { manifestSchema, type BundleManifest } from '../../core/bundle/manifest';
import { readJsonFile } from '../../core/util/json-file';

/** The manifest file's name inside a bundle (the same name `core/bundle/bundle-io.ts` writes). */
export const MANIFEST_FILE_NAME = 'manifest.json';

/** The models a deployment serves and their bundle manifests. */
export interface BundleCatalog {
  /** Names of the served models, sorted. */
  models(): Promise<string[]>;
  /** The model's manifest, or undefined when the model is not served here. */
  manifest(model: string): Promise<BundleManifest | undefined>;
}

/**
 * A catalog over bundle directories on this machine, for the local stack and tests. Each manifest
 * is read once and kept: bundles are immutable once written, so re-reading would only cost time.
 */
export function localBundleCatalog(dirsByModel: Record<string, string>): BundleCatalog {
  const dirs = new Map(Object.entries(dirsByModel));
  return cachedCatalog([...dirs.keys()], async (model) => {
    const dir = dirs.get(model);
    if (dir === undefined) return undefined;
    return readJsonFile(join(dir, MANIFEST_FILE_NAME), manifestSchema, `bundle manifest of model ${model}`);
  });
}

export interface S3BundleCatalogOptions {
  readonly client: S3Client;
  readonly bucket: string;
  /** Key prefix of bundles, ending in `/` (or empty); a model's manifest is `<prefix><model>/manifest.json`. */
  readonly prefix: string;
  /** The models this deployment serves (on AWS, the one named by `ENV.model`). */
  readonly models: readonly string[];
}

/**
 * A catalog over bundles in S3, for the Lambda functions. Manifests are fetched on first use and
 * cached for the life of the execution environment (a cold start), so a warm function answers
 * without touching S3; a failed fetch is not cached, so the next request tries again.
 */
export function s3BundleCatalog(options: S3BundleCatalogOptions): BundleCatalog {
  const { client, bucket, prefix } = options;
  return cachedCatalog(options.models, async (model) => {
    const key = `${prefix}${model}/${MANIFEST_FILE_NAME}`;
    let text: string;
    try {
      const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if (!object.Body) throw new Error('the object has no body');
      text = await object.Body.transformToString('utf8');
    } catch (cause) {
      throw new ArtifactError(`cannot read bundle manifest s3://${bucket}/${key}: ${String(cause)}`, {
        cause,
      });
    }
    return parseManifest(text, `s3://${bucket}/${key}`);
  });
}

function parseManifest(text: string, where: string): BundleManifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new ArtifactError(`bundle manifest ${where} is not valid JSON: ${(cause as Error).message}`, {
      cause,
    });
  }
  const parsed = manifestSchema.safeParse(value);
  if (!parsed.success) {
    throw new ArtifactError(
      `bundle manifest ${where} does not match its schema: ${describeIssues(parsed.error.issues)}`,
    );
  }
  return parsed.data;
}

/** Serves a fixed model list and memoises each model's manifest; failures are retried next time. */
function cachedCatalog(
  models: readonly string[],
  load: (model: string) => Promise<BundleManifest | undefined>,
): BundleCatalog {
  const served = new Set(models);
  const sorted = [...served].sort();
  const cache = new Map<string, Promise<BundleManifest | undefined>>();
  return {
    models: () => Promise.resolve([...sorted]),
    manifest: (model) => {
      if (!served.has(model)) return Promise.resolve(undefined);
      let pending = cache.get(model);
      if (!pending) {
        pending = load(model);
        pending.catch(() => cache.delete(model));
        cache.set(model, pending);
      }
      return pending;
    },
  };
}
