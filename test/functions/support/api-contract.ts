/**
 * Checking responses against the committed OpenAPI document: the status must be one the document
 * lists for the route, and the body must match that response's schema (JSON Schema 2020-12, with
 * ajv). Every HTTP test passes its responses through here, so the document and the code cannot
 * disagree unnoticed.
 */
import Ajv2020 from 'ajv/dist/2020';
import type { AnySchema, ValidateFunction } from 'ajv';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

interface Operation {
  responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
}

export const COMMITTED_DOCUMENT_PATH = join(__dirname, '..', '..', '..', 'docs', 'openapi.json');

const documentJson = JSON.parse(readFileSync(COMMITTED_DOCUMENT_PATH, 'utf8')) as {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown> };
};

const DOCUMENT_ID = 'urn:apparate:openapi';
// Formats are not checked by ajv here (the schemas carry patterns for them); strict mode is off
// because OpenAPI's `description` next to `$ref` and the document's own keywords are not schema.
const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
ajv.addSchema({ $id: DOCUMENT_ID, components: documentJson.components });
const compiled = new Map<string, ValidateFunction>();

export interface HttpAnswer {
  readonly statusCode: number;
  readonly body: string;
}

/**
 * Throws unless `answer` is a response the document allows for `method resource`; returns the
 * parsed body for further checks.
 */
export function conformingBody(method: string, resource: string, answer: HttpAnswer): unknown {
  const operation = documentJson.paths[resource]?.[method.toLowerCase()];
  if (operation === undefined) throw new Error(`the document has no operation ${method} ${resource}`);
  const response = operation.responses[String(answer.statusCode)];
  if (response === undefined) {
    throw new Error(
      `${method} ${resource}: status ${answer.statusCode} is not documented (body ${answer.body})`,
    );
  }
  const body: unknown = JSON.parse(answer.body);
  const schema = response.content?.['application/json']?.schema;
  if (schema === undefined) return body;
  const key = `${method} ${resource} ${answer.statusCode}`;
  let validate = compiled.get(key);
  if (validate === undefined) {
    validate = ajv.compile(rebase(schema));
    compiled.set(key, validate);
  }
  if (!validate(body)) {
    throw new Error(
      `${key}: body does not match the document: ${ajv.errorsText(validate.errors)}; body ${answer.body}`,
    );
  }
  return body;
}

/** Points the document's local references at the schema registered above. */
function rebase(schema: unknown): AnySchema {
  return JSON.parse(
    JSON.stringify(schema).replaceAll('"#/components/', `"${DOCUMENT_ID}#/components/`),
  ) as AnySchema;
}
