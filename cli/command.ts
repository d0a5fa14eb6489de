/**
 * The shape every CLI command has. Commands declare their options once; the dispatcher derives
 * parsing, `--help` text and the exit-code-2 errors for bad usage from that declaration, so every
 * command behaves the same way at its edges.
 */
import type { ParseArgsConfig } from 'node:util';

export interface CommandIo {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

export type OptionSpec = NonNullable<ParseArgsConfig['options']>[string] & { readonly description: string };

export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** Returns the process exit code. */
  run(
    values: Record<string, string | boolean | undefined>,
    positionals: string[],
    io: CommandIo,
  ): Promise<number>;
}

/** Exit code for usage errors and bad input, distinct from 1 (failures of the system itself). */
export const EXIT_USAGE = 2;
