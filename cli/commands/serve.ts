/**
 * `apparate serve` (what `npm start` runs): the local stack until Ctrl-C. It prints where the API
 * listens and a `curl` that works as printed, so a first-time user goes from a clean clone to an
 * answer without reading anything else.
 */
import type { Command, CommandIo } from '../command';
import { createProgress } from '../progress';
import { startLocalStack, type LocalStack } from '../stack/local-stack';
import { readStackOptions, STACK_OPTIONS } from '../stack/stack-options';

/** A request body a person can type: the text model takes raw text. */
const EXAMPLE_TEXT = 'Congratulations! You have won a free cruise. Reply now to claim your prize.';

/** The start-up banner: URL, models, queue, log file and a working request. */
export function stackBanner(stack: LocalStack): string {
  const text = stack.bundles.find((b) => b.model === 'spam-bert');
  const example = text ?? stack.bundles[0];
  const body =
    text !== undefined
      ? JSON.stringify({ inputs: EXAMPLE_TEXT })
      : `{"inputs": [${new Array(784).fill(0).join(',')}]}`;
  return [
    '',
    `Apparate is serving on ${stack.url}`,
    `  models: ${[...stack.bundles.map((b) => b.model), ...stack.generators.keys()].join(', ')}   queue: ${stack.queueKind}`,
    ...(stack.logPath ? [`  logs:   ${stack.logPath}`] : []),
    '',
    'Try:',
    `  curl -s -X POST ${stack.url}/v1/models/${example?.model ?? 'spam-bert'}/infer \\`,
    `       -H 'content-type: application/json' -d '${body}'`,
    `  curl -s ${stack.url}/v1/models`,
    ...[...stack.generators.keys()].flatMap((name) => [
      `  curl -sN -X POST ${stack.url}/v1/models/${name}/generate \\`,
      `       -H 'content-type: application/json' -d '{"prompt": "Call me Ishmael. ", "maxTokens": 48}'`,
    ]),
    '',
    'Press Ctrl-C to stop.',
    '',
  ].join('\n');
}

/** Resolves on the first SIGINT/SIGTERM; a second one exits at once (130). */
export function untilSignalled(io: CommandIo): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      const force = (): void => {
        io.stderr.write('apparate: second signal, exiting now\n');
        process.exit(130);
      };
      process.once('SIGINT', force);
      process.once('SIGTERM', force);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the local stack: fixture bundles, dynalite, workers, controller, HTTP API',
  usage:
    'apparate serve [--port 3000] [--host 127.0.0.1] [--models mnist-resnet,spam-bert] [--generative moby-gpt|none] [--redis-url <url>] [--data-dir <dir>] [--in-memory] [--controller-period-ms 10000]',
  options: STACK_OPTIONS,
  async run(values, _positionals, io) {
    const progress = createProgress(io);
    const options = readStackOptions(values, progress);
    io.stderr.write(
      `apparate: starting the local stack (first start prepares the fixture bundles, a few minutes)\n`,
    );
    const stack = await startLocalStack(options);
    progress.stop();
    io.stdout.write(stackBanner(stack));
    const signal = await untilSignalled(io);
    io.stderr.write(`apparate: ${signal} received, stopping (finishing batches in flight)\n`);
    await stack.close();
    io.stderr.write('apparate: stopped\n');
    return 0;
  },
};
