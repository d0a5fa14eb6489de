/**
 * Reading JSON files against a schema. Every artefact the project reads (model descriptions, data
 * set descriptions, later bundle manifests) goes through here so that a missing file, broken JSON
 * and a schema mismatch each produce one clear line naming the file.
 */
import { readFile } from 'node:fs/promises';
import type { z } from 'zod';
import { InputError, describeIssues } from '../errors';

/** Reads and validates a JSON file; throws InputError naming the file and the offending fields. */
export async function readJsonFile<S extends z.ZodType>(
  path: string,
  schema: S,
  what: string,
): Promise<z.infer<S>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? String(cause)})`;
    throw new InputError(`${what} ${path} ${reason}`, { cause });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new InputError(`${what} ${path} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new InputError(`${what} ${path} does not match its schema: ${describeIssues(parsed.error.issues)}`);
  }
  return parsed.data;
}
