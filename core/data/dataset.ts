/**
 * Loading the fixture data sets. The serving stream is the workload every evaluation replays, in a
 * fixed order whose first part is what Apparate bootstraps on; loading it must therefore be exact
 * and repeatable, and any mismatch between the files and their description is an error, not a
 * silently shorter stream.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ArtifactError, describeIssues } from '../errors';
import { readJsonFile } from '../util/json-file';
import type { RawSample } from '../inference/batch-encoding';
import { datasetSpecSchema, textRecordSchema, type DatasetSpec, type TextRecord } from './dataset-spec';

export type SplitName = 'serving' | 'train';

export interface ImageSplit {
  readonly kind: 'image';
  readonly count: number;
  readonly height: number;
  readonly width: number;
  /** Values per pixel: 1 (grey, every fixture) or 3 (colour, channel-first). @default 1 */
  readonly channels?: number;
  /** `count` images of `channels × height × width` bytes, row-major, back to back. */
  readonly pixels: Uint8Array;
  readonly labels: Uint8Array;
}

export interface TextSplit {
  readonly kind: 'text';
  readonly count: number;
  readonly records: readonly TextRecord[];
  readonly labels: Uint8Array;
}

export type DataSplit = ImageSplit | TextSplit;

/** Reads a data set's description from its directory. */
export function readDatasetSpec(dir: string): Promise<DatasetSpec> {
  return readJsonFile(join(dir, 'dataset.json'), datasetSpecSchema, 'data set description');
}

async function readMaybeGzip(path: string): Promise<Buffer> {
  const bytes = await readFile(path);
  return path.endsWith('.gz') ? gunzipSync(bytes) : bytes;
}

/** Loads one split of a data set, checking its sizes against the description. */
export async function loadSplit(dir: string, split: SplitName): Promise<DataSplit> {
  const spec = await readDatasetSpec(dir);
  if (spec.task === 'image-classification') {
    const part = spec.splits[split];
    const [height, width] = spec.sample.shape;
    const pixels = await readMaybeGzip(join(dir, part.images));
    const labels = await readMaybeGzip(join(dir, part.labels));
    if (pixels.length !== part.count * height * width || labels.length !== part.count) {
      throw new ArtifactError(
        `data set ${dir} split ${split}: expected ${part.count} images of ${height}x${width} and as many labels, found ${pixels.length} pixel bytes and ${labels.length} labels`,
      );
    }
    return {
      kind: 'image',
      count: part.count,
      height,
      width,
      pixels: new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.length),
      labels: new Uint8Array(labels.buffer, labels.byteOffset, labels.length),
    };
  }
  const part = spec.splits[split];
  const lines = (await readMaybeGzip(join(dir, part.file))).toString('utf8').split('\n').filter(Boolean);
  const records = lines.map((line, index) => {
    const parsed = textRecordSchema.safeParse(JSON.parse(line));
    if (!parsed.success) {
      throw new ArtifactError(
        `data set ${dir} split ${split} line ${index + 1}: ${describeIssues(parsed.error.issues)}`,
      );
    }
    return parsed.data;
  });
  if (records.length !== part.count) {
    throw new ArtifactError(
      `data set ${dir} split ${split}: expected ${part.count} records, found ${records.length}`,
    );
  }
  return { kind: 'text', count: records.length, records, labels: Uint8Array.from(records, (r) => r.label) };
}

/** Sample `index` of a split in the raw form the API accepts. */
export function sampleAt(split: DataSplit, index: number): RawSample {
  if (split.kind === 'image') {
    const size = (split.channels ?? 1) * split.height * split.width;
    return { kind: 'image', pixels: split.pixels.subarray(index * size, (index + 1) * size) };
  }
  const record = split.records[index];
  if (!record) throw new ArtifactError(`sample ${index} is outside the split's ${split.count} records`);
  return { kind: 'text', text: record.text };
}
