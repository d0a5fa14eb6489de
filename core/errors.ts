/**
 * The project's error classes. There are deliberately few: callers decide what to do by class
 * (bad input is the user's to fix and maps to exit code 2 or an HTTP 4xx; anything else is ours),
 * and every error keeps its cause so nothing is lost when it is re-thrown with more context.
 */
import type { ZodType } from 'zod';

/** Something the user gave us is wrong; the message says what was wrong and what is allowed. */
export class InputError extends Error {
  override readonly name = 'InputError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A file or artefact the project relies on is missing, corrupt or inconsistent. */
export class ArtifactError extends Error {
  override readonly name = 'ArtifactError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Formats zod issues as one line naming each offending path, so errors stay one line long. */
export function describeIssues(
  issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>,
): string {
  return issues
    .map(
      (issue) => `${issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)'}: ${issue.message}`,
    )
    .join('; ');
}

/** The message of anything thrown, as one line: the one error-text helper of every part. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `value` parsed by `schema`, or an `InputError` naming `what` and every issue. */
export function parseInput<T>(schema: ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new InputError(`${what} is not valid: ${describeIssues(parsed.error.issues)}`);
  }
  return parsed.data;
}
