import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { ArtifactError, InputError } from '../../../core/errors';
import { localBundleCatalog, s3BundleCatalog } from '../../../functions/catalog/bundle-catalog';
import { workerFixture, type WorkerFixture } from '../../worker/worker-fixtures';

/** An S3 GetObject body as the SDK hands it over (only the method the catalog uses). */
const objectBody = (text: string) =>
  ({ transformToString: () => Promise.resolve(text) }) as unknown as NonNullable<
    Awaited<ReturnType<S3Client['send']>>
  >;

let fixture: WorkerFixture;
let manifestText: string;

beforeAll(async () => {
  fixture = await workerFixture('mnist-resnet');
  manifestText = JSON.stringify(fixture.bundle.manifest);
});

describe('local bundle catalog', () => {
  it('lists its models sorted and reads each manifest from the bundle directory', async () => {
    // Given a catalog over a real bundle and a second name
    const catalog = localBundleCatalog({ zeta: fixture.bundle.dir, 'mnist-resnet': fixture.bundle.dir });

    // When it is asked for its models and a manifest
    const models = await catalog.models();
    const manifest = await catalog.manifest('mnist-resnet');

    // Then the models come sorted and the manifest is the bundle's
    expect(models).toEqual(['mnist-resnet', 'zeta']);
    expect(manifest).toEqual(fixture.bundle.manifest);
  });

  it('answers undefined for a model it does not serve, and names the file of a broken bundle', async () => {
    // Given a catalog with one model whose directory has no manifest
    const empty = mkdtempSync(join(tmpdir(), 'apparate-catalog-'));
    const catalog = localBundleCatalog({ broken: empty });

    // Then an unknown model is undefined and the broken one fails naming its manifest
    await expect(catalog.manifest('other')).resolves.toBeUndefined();
    await expect(catalog.manifest('broken')).rejects.toThrow(InputError);
    await expect(catalog.manifest('broken')).rejects.toThrow(join(empty, 'manifest.json'));

    // And once the manifest appears, the next read succeeds (failures are not cached)
    writeFileSync(join(empty, 'manifest.json'), manifestText);
    await expect(catalog.manifest('broken')).resolves.toEqual(fixture.bundle.manifest);
  });
});

describe('S3 bundle catalog', () => {
  const s3 = mockClient(S3Client);
  afterEach(() => s3.reset());

  it('reads <prefix><model>/manifest.json once per cold start', async () => {
    // Given a bucket holding the model's manifest
    s3.on(GetObjectCommand, { Bucket: 'bundles', Key: 'prod/mnist-resnet/manifest.json' }).resolves({
      Body: objectBody(manifestText) as never,
    });
    const catalog = s3BundleCatalog({
      client: new S3Client({ region: 'us-east-1' }),
      bucket: 'bundles',
      prefix: 'prod/',
      models: ['mnist-resnet'],
    });

    // When the manifest is asked for twice, and an unserved model once
    const first = await catalog.manifest('mnist-resnet');
    const second = await catalog.manifest('mnist-resnet');
    const unknown = await catalog.manifest('spam-bert');

    // Then one GetObject was made, for the served model only, and both reads gave the manifest
    expect(first).toEqual(fixture.bundle.manifest);
    expect(second).toBe(first);
    expect(unknown).toBeUndefined();
    expect(s3.commandCalls(GetObjectCommand)).toHaveLength(1);
    expect(await catalog.models()).toEqual(['mnist-resnet']);
  });

  it('reports an unreadable or invalid manifest with its S3 address, and tries again next time', async () => {
    // Given S3 failing once, then serving a manifest that fails the schema
    s3.on(GetObjectCommand)
      .rejectsOnce(new Error('AccessDenied'))
      .resolves({ Body: objectBody('{"formatVersion": 1}') as never });
    const catalog = s3BundleCatalog({
      client: new S3Client({ region: 'us-east-1' }),
      bucket: 'bundles',
      prefix: '',
      models: ['mnist-resnet'],
    });

    // Then the first read names the object and the failure, the second the schema problem
    await expect(catalog.manifest('mnist-resnet')).rejects.toThrow(
      'cannot read bundle manifest s3://bundles/mnist-resnet/manifest.json: Error: AccessDenied',
    );
    const second = catalog.manifest('mnist-resnet');
    await expect(second).rejects.toThrow(ArtifactError);
    await expect(second).rejects.toThrow('s3://bundles/mnist-resnet/manifest.json does not match its schema');
    expect(s3.commandCalls(GetObjectCommand)).toHaveLength(2);
  });
});
