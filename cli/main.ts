/**
 * The `apparate` command-line entry point: finds the command, parses its options strictly, and
 * turns the user's mistakes (unknown command or option, missing file, bad value) into one line on
 * stderr and exit code 2, leaving exit code 1 for failures of the system itself.
 */
import { parseArgs } from 'node:util';
import { ArtifactError, InputError } from '../core/errors';
import { EXIT_USAGE, type Command, type CommandIo } from './command';
import { demoCommand } from './commands/demo';
import { generateCommand } from './commands/generate';
import { initCommand } from './commands/init';
import { inspectCommand } from './commands/inspect';
import { logsCommand } from './commands/logs';
import { prepareCommand } from './commands/prepare';
import { serveCommand } from './commands/serve';
import { simulateCommand } from './commands/simulate';
import { workerCommand } from './commands/worker';
import { zooCommand } from './commands/zoo';

export const COMMANDS: readonly Command[] = [
  zooCommand,
  inspectCommand,
  initCommand,
  prepareCommand,
  simulateCommand,
  workerCommand,
  serveCommand,
  generateCommand,
  demoCommand,
  logsCommand,
];

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'usage: apparate <command> [options]',
    '',
    'Apparate serves classification models with early exits: it prepares ONNX models with ramps,',
    'simulates and benchmarks them, and serves them locally or on AWS.',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    "Run `apparate <command> --help` for a command's options.",
    '',
  ].join('\n');
}

function commandHelp(command: Command): string {
  const entries = Object.entries(command.options).map(([name, spec]) => {
    const flag = spec.type === 'string' ? `--${name} <value>` : `--${name}`;
    return [flag, spec.description] as const;
  });
  entries.push(['--help', 'show this help']);
  const width = Math.max(...entries.map(([flag]) => flag.length));
  return [
    `usage: ${command.usage}`,
    '',
    command.summary,
    '',
    'options:',
    ...entries.map(([flag, text]) => `  ${flag.padEnd(width)}  ${text}`),
    '',
  ].join('\n');
}

function fail(io: CommandIo, message: string): number {
  io.stderr.write(`apparate: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
  return EXIT_USAGE;
}

/** Runs the CLI with the given arguments and returns the exit code. */
export async function main(argv: readonly string[], io: CommandIo = process): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(overview());
    return name === undefined ? EXIT_USAGE : 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    return fail(
      io,
      `unknown command "${name}"; allowed: ${COMMANDS.map((c) => c.name).join(', ')} (see apparate --help)`,
    );
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...rest],
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: false,
      strict: true,
    });
  } catch (error) {
    const allowed = Object.keys(command.options)
      .map((o) => `--${o}`)
      .join(', ');
    return fail(
      io,
      `${(error as Error).message.split('\n')[0] ?? 'bad arguments'}; allowed options for ${command.name}: ${allowed || 'none'}, --help`,
    );
  }
  if (parsed.values.help) {
    io.stdout.write(commandHelp(command));
    return 0;
  }
  try {
    return await command.run(
      parsed.values as Record<string, string | boolean | undefined>,
      parsed.positionals,
      io,
    );
  } catch (error) {
    if (error instanceof InputError || error instanceof ArtifactError) return fail(io, error.message);
    throw error;
  }
}
