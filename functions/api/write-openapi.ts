/**
 * Writes the OpenAPI document to `docs/openapi.json` (run: `npx tsx functions/api/write-openapi.ts`).
 * The committed file is what clients and reviewers read without running anything; a test fails
 * when it is stale. It is formatted with the repository's prettier settings, so `npm run lint`
 * accepts it as written.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildOpenApiDocument } from './openapi';

/** The committed document's path. */
export const OPENAPI_DOCUMENT_PATH = join(__dirname, '..', '..', 'docs', 'openapi.json');

/** Writes the document for the current schemas. */
export async function writeOpenApiDocument(path: string = OPENAPI_DOCUMENT_PATH): Promise<void> {
  // prettier is a development tool; it is loaded here only, never by a handler.
  const prettier = await import('prettier');
  const options = (await prettier.resolveConfig(path)) ?? {};
  const text = await prettier.format(JSON.stringify(buildOpenApiDocument()), { ...options, filepath: path });
  await writeFile(path, text);
}

if (require.main === module) {
  writeOpenApiDocument().then(
    () => process.stdout.write(`wrote ${OPENAPI_DOCUMENT_PATH}\n`),
    (error: unknown) => {
      process.stderr.write(`${String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
