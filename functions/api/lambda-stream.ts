/**
 * The ingest Lambda as a response-streaming function, which is what API Gateway's REST response
 * streaming (`responseTransferMode: STREAM` on the integration) invokes: every response goes
 * through the stream the runtime hands over, after a metadata prelude with the status and headers
 * (`awslambda.HttpResponseStream.from`). A request that asks for a stream gets the ingest's event
 * stream; every other gets the same whole JSON response the buffered integration would give.
 *
 * The runtime's API is passed in rather than read from the `awslambda` global, so the adapter is
 * tested with a stand-in for it and runs unchanged in the real runtime.
 */
import type { Writable } from 'node:stream';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { streamFormatOf } from './answer-stream';
import { headerValue, type ResponseStream } from './http';
import type { IngestHandlers } from './ingest-handler';

/** What the Node.js Lambda runtime offers streaming handlers (the `awslambda` global). */
export interface LambdaStreamingRuntime {
  readonly HttpResponseStream: {
    from(stream: Writable, metadata: { statusCode: number; headers?: Record<string, string> }): Writable;
  };
}

/** A streaming Lambda handler, before the runtime's `streamifyResponse` wraps it. */
export type StreamingLambdaHandler = (event: APIGatewayProxyEvent, responseStream: Writable) => Promise<void>;

/** Resolves once `stream` has finished (or failed), so the invocation ends after the last byte. */
function finished(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    if (stream.writableFinished) return resolve();
    stream.once('finish', () => resolve());
    stream.once('error', () => resolve());
  });
}

function writeWhole(
  runtime: LambdaStreamingRuntime,
  responseStream: Writable,
  result: APIGatewayProxyResult,
): void {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name] = String(value);
  const out = runtime.HttpResponseStream.from(responseStream, { statusCode: result.statusCode, headers });
  out.end(result.isBase64Encoded === true ? Buffer.from(result.body, 'base64') : result.body);
}

/**
 * Adapts the ingest handlers to the streaming runtime. `afterResponse` runs once the response has
 * ended (the writes still in flight must finish before the environment is frozen).
 */
export function streamingIngestHandler(
  runtime: LambdaStreamingRuntime,
  handlers: () => IngestHandlers,
  afterResponse: () => Promise<void> = () => Promise.resolve(),
): StreamingLambdaHandler {
  return async (event, responseStream) => {
    const ingest = handlers();
    if (streamFormatOf(headerValue(event, 'accept')) === undefined) {
      writeWhole(runtime, responseStream, await ingest.handler(event));
    } else {
      let out: Writable | undefined;
      const stream: ResponseStream = {
        open: (statusCode, headers) => {
          out = runtime.HttpResponseStream.from(responseStream, { statusCode, headers });
        },
        write: (text) => {
          out?.write(text);
        },
        end: () => {
          out?.end();
        },
      };
      const refused = await ingest.stream(event, stream);
      if (refused !== undefined) writeWhole(runtime, responseStream, refused);
    }
    await finished(responseStream);
    await afterResponse();
  };
}
