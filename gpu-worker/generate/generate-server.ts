/**
 * The worker's generation endpoint. Token streams need a direct connection to the process that
 * decodes (API Gateway's REST proxy buffers whole responses), so the worker serves
 * `POST /v1/models/{model}/generate` itself (behind a load balancer when deployed) and its
 * generation metrics at `/metrics`. One engine (thread) per served model.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { scrape } from '../../core/util/prometheus';
import type { GenerationEngine } from './generation-engine';
import type { GenerationMetrics } from './generation-metrics';
import { serveGenerate } from './generate-route';

const ROUTE = /^\/v1\/models\/([^/]+)\/generate$/;

export interface GenerateServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Starts serving the engines on `port` (0 picks a free one). */
export async function startGenerateServer(options: {
  readonly engines: ReadonlyMap<string, GenerationEngine>;
  readonly metrics: GenerationMetrics;
  readonly port?: number;
  readonly host?: string;
}): Promise<GenerateServer> {
  const { engines, metrics } = options;
  for (const [model, engine] of engines) engine.onEvent((event) => metrics.observeEvent(model, event));
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://local').pathname;
    if (path === '/metrics' && request.method === 'GET') {
      void scrape(metrics.registry).then(({ statusCode, contentType, body }) =>
        response.writeHead(statusCode, { 'content-type': contentType }).end(body),
      );
      return;
    }
    const match = ROUTE.exec(path);
    const error = (
      status: number,
      code: string,
      message: string,
      headers: Record<string, string> = {},
    ): void => {
      request.resume();
      response
        .writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers })
        .end(JSON.stringify({ error: { code, message } }));
    };
    if (!match)
      return error(404, 'not_found', `no route ${path}; generation is POST /v1/models/{model}/generate`);
    if (request.method !== 'POST')
      return error(
        405,
        'method_not_allowed',
        `${request.method ?? ''} is not allowed on ${path}; allowed: POST`,
        { allow: 'POST' },
      );
    let model: string;
    try {
      model = decodeURIComponent(match[1] as string);
    } catch {
      return error(404, 'unknown_model', 'the model name in the path is not valid percent-encoding');
    }
    serveGenerate(request, response, model, { engines, metrics }).catch((failure: unknown) => {
      if (response.headersSent) response.destroy();
      else error(500, 'internal_error', `the request failed on our side: ${(failure as Error).message}`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
