/**
 * `apparate generate`: serves a generative model (a directory like `zoo/generative/moby-gpt`) with
 * per-token early exits at `POST /v1/models/{name}/generate` (server-sent events) and its metrics
 * at `/metrics`, until SIGTERM or SIGINT. Thresholds start at 0 and the feedback loop raises them
 * as the window of per-token agreement allows.
 */
import { basename, resolve } from 'node:path';
import { MOBY_GPT_DIR } from '../../core/generate/fixture';
import { InputError } from '../../core/errors';
import { GenerationEngine, GenerationMetrics, startGenerateServer } from '../../gpu-worker';
import type { Command } from '../command';
import { numberOption } from '../options';

export const generateCommand: Command = {
  name: 'generate',
  summary: 'serve a generative model with per-token early exits (SSE) until SIGTERM',
  usage:
    'apparate generate [--model <dir>] [--port <n>] [--host <h>] [--max-rows <n>] [--max-held-tokens <n>] [--constraint <c>] [--plain]',
  options: {
    model: { type: 'string', description: `generative model directory (default ${MOBY_GPT_DIR})` },
    port: { type: 'string', description: 'port (default 3100; 0: any free one)' },
    host: { type: 'string', description: 'address to listen on (default 127.0.0.1)' },
    'max-rows': { type: 'string', description: 'rows decoded at once; 429 past it (default 8)' },
    'max-held-tokens': { type: 'string', description: 'tokens a row may hold before a fill (default 8)' },
    constraint: { type: 'string', description: 'per-token agreement to keep (default 0.99)' },
    plain: { type: 'boolean', description: 'serve the whole model, no exits (the baseline)' },
  },
  async run(values, _positionals, io) {
    const modelDir = resolve(typeof values.model === 'string' ? values.model : MOBY_GPT_DIR);
    const port = numberOption(values, 'port', {
      default: 3100,
      min: 0,
      minInclusive: true,
      max: 65535,
      integer: true,
    });
    const maxRows = numberOption(values, 'max-rows', {
      default: 8,
      min: 1,
      minInclusive: true,
      max: 256,
      integer: true,
    });
    const maxHeldTokens = numberOption(values, 'max-held-tokens', {
      default: 8,
      min: 0,
      minInclusive: true,
      max: 64,
      integer: true,
    });
    const constraint = numberOption(values, 'constraint', { default: 0.99, min: 0, max: 1 });
    const host = typeof values.host === 'string' ? values.host : '127.0.0.1';
    if (host === '') throw new InputError('--host must not be empty');
    const name = basename(modelDir);
    const engine = await GenerationEngine.start({
      modelDir,
      layout: values.plain === true ? 'whole' : 'segments',
      maxRows,
      maxHeldTokens,
      constraint,
    });
    const metrics = new GenerationMetrics();
    const server = await startGenerateServer({ engines: new Map([[name, engine]]), metrics, port, host });
    io.stdout.write(
      `serving ${name} at ${server.url}/v1/models/${name}/generate (metrics at ${server.url}/metrics); Ctrl-C stops\n`,
    );
    await new Promise<void>((done) => {
      process.once('SIGINT', () => done());
      process.once('SIGTERM', () => done());
    });
    await server.close();
    await engine.close();
    return 0;
  },
};
