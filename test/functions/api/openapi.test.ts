import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as esbuild from 'esbuild';
import { buildOpenApiDocument } from '../../../functions/api/openapi';
import { API_ROUTES, WORKER_ROUTES } from '../../../functions/api/routes';
import { OPENAPI_DOCUMENT_PATH } from '../../../functions/api/write-openapi';

const REPO_ROOT = join(__dirname, '..', '..', '..');

describe('the OpenAPI document', () => {
  it('is valid OpenAPI 3.1', async () => {
    // When the committed document is checked by an OpenAPI schema validator
    const cli = join(
      REPO_ROOT,
      'node_modules',
      '@seriousme',
      'openapi-schema-validator',
      'bin',
      'validate-api-cli.js',
    );
    const { stdout } = await promisify(execFile)(process.execPath, [cli, OPENAPI_DOCUMENT_PATH]);

    // Then it is valid
    expect(JSON.parse(stdout)).toEqual({ valid: true });
    expect(buildOpenApiDocument().openapi).toBe('3.1.0');
  });

  it('is committed as generated (run `npx tsx functions/api/write-openapi.ts` when this fails)', () => {
    // Compared as JSON: the committed file is the same document, formatted by prettier.
    expect(JSON.parse(readFileSync(OPENAPI_DOCUMENT_PATH, 'utf8'))).toEqual(buildOpenApiDocument());
  });

  it('documents every route the API and its workers serve, and no other', () => {
    const document = buildOpenApiDocument();
    const documented = Object.entries(document.paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(documented.sort()).toEqual(
      [...API_ROUTES, ...WORKER_ROUTES].map((route) => `${route.method} ${route.resource}`).sort(),
    );
  });
});

describe('the deployable entries', () => {
  it.each(['functions/ingest.ts', 'functions/result.ts'])(
    '%s bundles for Node 22 without onnxruntime, Redis or worker code',
    async (entry) => {
      // When the entry is bundled the way the CDK app bundles it
      const built = await esbuild.build({
        entryPoints: [join(REPO_ROOT, entry)],
        bundle: true,
        platform: 'node',
        target: 'node22',
        write: false,
        metafile: true,
        logLevel: 'silent',
        outfile: 'handler.js',
      });

      // Then it built without warnings, and none of the heavy or foreign modules is inside
      expect(built.errors).toEqual([]);
      expect(built.warnings).toEqual([]);
      const inputs = Object.keys(built.metafile.inputs);
      expect(
        inputs.some(
          (input) =>
            input.includes('functions/api/ingest-handler') || input.includes('functions/api/result-handler'),
        ),
      ).toBe(true);
      expect(
        inputs.filter((input) => /onnxruntime|onnx-proto|bullmq|ioredis|gpu-worker\//.test(input)),
      ).toEqual([]);
    },
  );
});
