/**
 * The local HTTP front for the API handlers, in place of API Gateway: `npm start` and the
 * end-to-end tests put it in front of the same handler functions the Lambdas export. It routes
 * with the API's own route table, converts each request to a REST API (v1) proxy event and each
 * proxy result back, and answers unknown routes (404) and wrong methods (405) in the API's error
 * shape. The body is read up to a transport limit (API Gateway's is 10 MB); the ingest handler
 * applies the API's own, smaller limit with its own message.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { streamFormatOf } from '../api/answer-stream';
import {
  errorResult,
  messageOf,
  problem,
  type ApiHandler,
  type ResponseStream,
  type StreamingApiHandler,
} from '../api/http';
import { matchGenerateRoute, matchRoute, type RouteTarget } from '../api/routes';
import { scrape } from '../../core/util/prometheus';
import { UNMATCHED_ROUTE, type ApiMetrics } from './api-metrics';
import { toProxyEvent } from './proxy-event';
import { IMAGE_MEDIA_TYPES } from '../../core/inference/image-file';

/** The route label of the generation route (a worker route, not in the API's table). */
const GENERATE_ROUTE = '/v1/models/{model}/generate';

/** Where the server answers with its metrics when it keeps them. */
export const METRICS_PATH = '/metrics';

/** API Gateway's payload limit, which this server mirrors as its transport limit. */
export const DEFAULT_TRANSPORT_MAX_BODY_BYTES = 10 * 1024 * 1024;

export interface ApiServerOptions {
  /** @default 3000; 0 picks a free port */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** The ingest handler (`createIngestHandler`). */
  readonly ingest: ApiHandler;
  /** The result handler (`createResultHandler`). */
  readonly result: ApiHandler;
  /**
   * Handlers that stream, by route target: a request whose Accept header asks for a stream format
   * (`text/event-stream`, `application/x-ndjson`) goes to the target's streaming handler when it
   * has one, as API Gateway's response streaming would deliver it.
   */
  readonly streams?: Partial<Record<RouteTarget, StreamingApiHandler>>;
  /** The Open Inference Protocol handler (`createOpenInferenceHandler`); without it `/v2` answers 404. */
  readonly openInference?: ApiHandler;
  /** Bodies larger than this are refused (413) before a handler sees them. @default 10 MiB */
  readonly maxBodyBytes?: number;
  /**
   * GET routes only this server has, by exact path (the dashboard), tried before the API's own
   * table; they are not part of the API document. @default none
   */
  readonly localRoutes?: Readonly<Record<string, ApiHandler>>;
  /**
   * `POST /v1/models/{model}/generate` (a worker route, see `WORKER_ROUTES`): the handler reads the
   * body and streams the answer itself. Without it the route answers 404 like any unknown one.
   */
  readonly generate?: (request: IncomingMessage, response: ServerResponse, model: string) => Promise<void>;
  /**
   * Counts every response and serves them at `GET /metrics` (Prometheus text); without it the
   * path is an unknown route. @default none
   */
  readonly metrics?: ApiMetrics;
}

export interface ApiServer {
  /** `http://<host>:<port>`, without a trailing slash. */
  readonly url: string;
  /** Stops accepting connections and ends idle ones; resolves once the server is closed. */
  close(): Promise<void>;
}

class BodyTooLarge extends Error {}

/** Starts the server; resolves once it listens. */
export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const host = options.host ?? '127.0.0.1';
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_TRANSPORT_MAX_BODY_BYTES;
  const handlers = {
    ingest: options.ingest,
    result: options.result,
    'open-inference':
      options.openInference ??
      (() =>
        Promise.resolve(
          errorResult(problem(404, 'not_found', 'this server does not serve the Open Inference Protocol')),
        )),
  };

  const { metrics } = options;
  /** Sets the route label of the request being served (the path template, or the local path). */
  type Label = (route: string) => void;

  const serve = async (request: IncomingMessage, response: ServerResponse, label: Label): Promise<void> => {
    const url = new URL(request.url ?? '/', 'http://local');
    if (metrics !== undefined && url.pathname === METRICS_PATH && request.method === 'GET') {
      drain(request);
      label(METRICS_PATH);
      const { statusCode, contentType, body } = await scrape(metrics.served());
      return send(response, { statusCode, headers: { 'content-type': contentType }, body });
    }
    const local = options.localRoutes?.[url.pathname];
    if (local !== undefined && (request.method === 'GET' || request.method === 'HEAD')) {
      drain(request);
      label(url.pathname);
      const event = toProxyEvent({ request, url, resource: url.pathname, pathParameters: {}, body: null });
      return send(response, await local(event));
    }
    const generation = options.generate === undefined ? undefined : matchGenerateRoute(url.pathname);
    if (generation !== undefined && options.generate !== undefined) {
      label(GENERATE_ROUTE);
      if (request.method !== 'POST') {
        drain(request);
        return send(response, {
          ...errorResult(
            problem(
              405,
              'method_not_allowed',
              `${request.method ?? ''} is not allowed on ${url.pathname}; allowed: POST`,
            ),
          ),
          headers: { 'content-type': 'application/json; charset=utf-8', allow: 'POST' },
        });
      }
      if ('invalid' in generation) {
        drain(request);
        return send(
          response,
          errorResult(
            problem(404, 'unknown_model', 'the model name in the path is not valid percent-encoding'),
          ),
        );
      }
      return options.generate(request, response, generation.model);
    }
    const match = matchRoute(request.method ?? 'GET', url.pathname);
    if (match.kind === 'not-found') {
      drain(request);
      return send(
        response,
        errorResult(problem(404, 'not_found', `no route ${url.pathname}; see /openapi.json for the API`)),
      );
    }
    if (match.kind === 'wrong-method') {
      drain(request);
      const allowed = match.allowed.join(', ');
      return send(response, {
        ...errorResult(
          problem(
            405,
            'method_not_allowed',
            `${request.method ?? ''} is not allowed on ${url.pathname}; allowed: ${allowed}`,
          ),
        ),
        headers: { 'content-type': 'application/json; charset=utf-8', allow: allowed },
      });
    }
    label(match.route.resource);
    let bytes: Buffer | null;
    try {
      bytes = await readBody(request, maxBodyBytes);
    } catch (error) {
      if (!(error instanceof BodyTooLarge)) throw error;
      response.setHeader('connection', 'close');
      return send(
        response,
        errorResult(
          problem(
            413,
            'body_too_large',
            `the body is larger than ${maxBodyBytes} bytes, the most this server reads`,
          ),
        ),
      );
    }
    const event = toProxyEvent({
      request,
      url,
      resource: match.route.resource,
      pathParameters: match.pathParameters,
      ...eventBody(bytes, request.headers['content-type']),
    });
    const streaming = options.streams?.[match.route.target];
    if (streaming !== undefined && streamFormatOf(request.headers.accept) !== undefined) {
      const refused = await streaming(event, responseStream(response));
      if (refused !== undefined) send(response, refused);
      return;
    }
    send(response, await handlers[match.route.target](event));
  };

  const server = createServer((request, response) => {
    let route = UNMATCHED_ROUTE;
    if (metrics !== undefined) {
      const method = request.method ?? 'GET';
      response.once('close', () => metrics.observe(route, method, response.statusCode));
    }
    serve(request, response, (matched) => (route = matched)).catch((error: unknown) => {
      if (response.headersSent) {
        response.destroy();
        return;
      }
      process.stderr.write(
        `${JSON.stringify({ level: 'error', message: 'local api request failed', error: messageOf(error) })}\n`,
      );
      send(response, errorResult(problem(500, 'internal_error', 'the request failed on our side')));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 3000, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeIdleConnections();
      }),
  };
}

/**
 * The body as API Gateway hands it to a function: base64 with `isBase64Encoded` for the binary
 * media types the deployed API declares (image files), UTF-8 text otherwise.
 */
function eventBody(
  bytes: Buffer | null,
  contentType: string | undefined,
): { body: string | null; isBase64Encoded: boolean } {
  if (bytes === null) return { body: null, isBase64Encoded: false };
  const type = contentType?.split(';')[0]?.trim().toLowerCase() ?? '';
  return (IMAGE_MEDIA_TYPES as readonly string[]).includes(type)
    ? { body: bytes.toString('base64'), isBase64Encoded: true }
    : { body: bytes.toString('utf8'), isBase64Encoded: false };
}

/** Reads the body (null when empty), refusing it once it passes `maxBodyBytes`. */
function readBody(request: IncomingMessage, maxBodyBytes: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    request.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > maxBodyBytes) {
        refused = true;
        chunks.length = 0;
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => {
      if (!refused) resolve(size === 0 ? null : Buffer.concat(chunks));
    });
    request.on('error', reject);
  });
}

/** Discards a body nobody will read, so the connection can be reused. */
function drain(request: IncomingMessage): void {
  request.resume();
}

/** A streamed response: headers at once, then each event as soon as it is written. */
function responseStream(response: ServerResponse): ResponseStream {
  return {
    open: (statusCode, headers) => {
      response.socket?.setNoDelay(true);
      response.writeHead(statusCode, headers);
      response.flushHeaders();
    },
    write: (text) => {
      response.write(text);
    },
    end: () => {
      response.end();
    },
  };
}

function send(response: ServerResponse, result: APIGatewayProxyResult): void {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(result.headers ?? {}))
    headers[name.toLowerCase()] = String(value);
  for (const [name, values] of Object.entries(result.multiValueHeaders ?? {})) {
    headers[name.toLowerCase()] = values.map(String);
  }
  const body =
    result.isBase64Encoded === true ? Buffer.from(result.body, 'base64') : Buffer.from(result.body, 'utf8');
  headers['content-length'] = String(body.length);
  response.writeHead(result.statusCode, headers);
  response.end(body);
}
