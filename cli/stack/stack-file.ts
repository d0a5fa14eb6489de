/**
 * Where a running local stack can be found. dynalite listens on a free port and keeps its files
 * locked while it runs, so tools in another process (`apparate logs`) cannot open the tables on
 * their own: the stack writes this small file into its data folder when it is up and removes it
 * when it stops, and the tools read the endpoint, table prefix and constraint from it.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

export const STACK_FILE = 'stack.json';

export const stackFileSchema = z.object({
  /** The HTTP API. */
  url: z.string(),
  /** dynalite's endpoint. */
  dynamoEndpoint: z.string(),
  /** Prefix of the stack's table names (`tableNames(prefix)`). */
  tablePrefix: z.string(),
  models: z.array(z.string()),
  /** The accuracy constraint the controller holds, 0..1. */
  accuracyConstraint: z.number(),
  pid: z.number().int(),
  startedAtMs: z.number(),
});
export type StackFile = z.infer<typeof stackFileSchema>;

/** Writes the file; returns a function that removes it again. */
export function writeStackFile(dataDir: string, stack: StackFile): () => void {
  const path = join(dataDir, STACK_FILE);
  writeFileSync(path, `${JSON.stringify(stack, null, 2)}\n`);
  return () => rmSync(path, { force: true });
}

/** The file in `dataDir`, or undefined when there is none (no stack running there) or it is unreadable. */
export function readStackFile(dataDir: string): StackFile | undefined {
  let text: string;
  try {
    text = readFileSync(join(dataDir, STACK_FILE), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const parsed = stackFileSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
