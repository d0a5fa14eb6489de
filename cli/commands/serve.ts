/**
 * `apparate serve` (what `npm start` runs): the local stack until Ctrl-C. It prints where the API
 * listens and a `curl` that works as printed, so a first-time user goes from a clean clone to an
 * answer without reading anything else.
 */
import type { Command, CommandIo } from '../command';
import { createProgress } from '../progress';
import { startLocalStack, type LocalStack } from '../stack/local-stack';
import { BUNDLE_OPTION, readBundleOption, readStackOptions, STACK_OPTIONS } from '../stack/stack-options';

/** A request body a person can type: the text model takes raw text. */
const EXAMPLE_TEXT = 'Congratulations! You have won a free cruise. Reply now to claim your prize.';

/** The start-up banner: URL, models, queue, log file and a working request. */
export function stackBanner(stack: LocalStack): string {
  const text = stack.bundles.find((b) => b.model === 'spam-bert');
  const digits = stack.bundles.find((b) => b.model === 'mnist-resnet');
  const example = text ?? digits;
  const body =
    text !== undefined
      ? JSON.stringify({ inputs: EXAMPLE_TEXT })
      : `{"inputs": [${new Array(784).fill(0).join(',')}]}`;
  // A user's own model: what it takes is in GET /v1/models; show both body forms.
  const own = stack.bundles[0]?.model ?? 'my-model';
  const tryIt =
    example !== undefined
      ? [
          `  curl -s -X POST ${stack.url}/v1/models/${example.model}/infer \\`,
          `       -H 'content-type: application/json' -d '${body}'`,
        ]
      : [
          `  curl -s -X POST ${stack.url}/v1/models/${own}/infer -H 'content-type: image/png' --data-binary @image.png`,
          `  curl -s -X POST ${stack.url}/v1/models/${own}/infer -H 'content-type: application/json' -d '{"inputs": "some text"}'`,
        ];
  return [
    '',
    `Apparate is serving on ${stack.url}`,
    `  models: ${[...stack.bundles.map((b) => b.model), ...stack.generators.keys()].join(', ')}   queue: ${stack.queueKind}`,
    ...(stack.logPath ? [`  logs:   ${stack.logPath}`] : []),
    '',
    'Try:',
    ...tryIt,
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
    'apparate serve [--port 3000] [--host 127.0.0.1] [--models mnist-resnet,spam-bert | --bundle <dir,...>] [--generative moby-gpt|none] [--redis-url <url>] [--data-dir <dir>] [--in-memory] [--controller-period-ms 10000] [--inference-threads <n>] [--intra-op-threads <n>]',
  options: { ...STACK_OPTIONS, bundle: BUNDLE_OPTION },
  async run(values, _positionals, io) {
    const progress = createProgress(io);
    const bundles = await readBundleOption(values);
    const options = { ...readStackOptions(values, progress), ...(bundles ? { bundles } : {}) };
    io.stderr.write(
      bundles
        ? `apparate: starting the local stack with ${bundles.map((b) => b.model).join(', ')}\n`
        : `apparate: starting the local stack (first start prepares the fixture bundles, a few minutes)\n`,
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
