/**
 * The ingest Lambda's streaming entry, with a stand-in for the runtime's `HttpResponseStream`
 * (the one part that exists only inside Lambda): the real ingest handlers, dynalite and the
 * in-process queue, and a worker stand-in that records answers in the results table, which the
 * Lambda reads on its adaptive schedule (nothing pushes on AWS).
 */
import { PassThrough, type Writable } from 'node:stream';
import { createIngestHandlers } from '../../functions/ingest';
import { streamingIngestHandler, type LambdaStreamingRuntime } from '../../functions/api/lambda-stream';
import { answerNext, blankImage, useHandlerFixture } from './support/handler-fixture';
import { inferEvent } from './support/proxy-events';

const MODEL = 'mnist-resnet';

const setup = useHandlerFixture();

/** A runtime stand-in: records each prelude's metadata and passes the body through. */
function fakeRuntime(): {
  runtime: LambdaStreamingRuntime;
  preludes: { statusCode: number; headers?: Record<string, string> }[];
} {
  const preludes: { statusCode: number; headers?: Record<string, string> }[] = [];
  return {
    preludes,
    runtime: {
      HttpResponseStream: {
        from: (stream: Writable, metadata) => {
          preludes.push(metadata);
          return stream;
        },
      },
    },
  };
}

/** Runs the entry on one event and returns the body written, with the time of each chunk. */
async function invoke(
  entry: ReturnType<typeof streamingIngestHandler>,
  event: Parameters<ReturnType<typeof streamingIngestHandler>>[0],
): Promise<{ body: string; chunks: { text: string; atMs: number }[] }> {
  const responseStream = new PassThrough();
  const chunks: { text: string; atMs: number }[] = [];
  responseStream.on('data', (chunk: Buffer) =>
    chunks.push({ text: chunk.toString('utf8'), atMs: performance.now() }),
  );
  await entry(event, responseStream);
  return { body: chunks.map((c) => c.text).join(''), chunks };
}

describe('the streaming ingest Lambda', () => {
  it('streams the early answer and then the final one after a prelude with the stream type', async () => {
    // Given the entry over the real handlers, and a worker stand-in that answers early, then final 150 ms later
    const { runtime, preludes } = fakeRuntime();
    let drained = 0;
    const handlers = createIngestHandlers({
      catalog: setup.fixture.catalog,
      queueFor: () => setup.stores.queue,
      results: setup.stores.results,
    });
    const entry = streamingIngestHandler(
      runtime,
      () => handlers,
      () => {
        drained += 1;
        return Promise.resolve();
      },
    );
    const worker = answerNext(setup.stores, () => ({
      early: { model: MODEL, label: '7', confidence: 0.95, exit: 'c1', latencyMs: 4, configVersion: 2 },
    })).then(async (request) => {
      await new Promise((resolve) => setTimeout(resolve, 150));
      if (request !== undefined) {
        await setup.stores.results.putFinal(request.requestId, {
          label: '7',
          confidence: 0.99,
          latencyMs: 160,
          configVersion: 2,
          agreesWithEarly: true,
        });
      }
    });

    // When a request asks for server-sent events
    const { body, chunks } = await invoke(
      entry,
      inferEvent(
        MODEL,
        { inputs: blankImage(setup.fixture.mnist), deadlineMs: 10_000 },
        { accept: 'text/event-stream' },
      ),
    );
    await worker;

    // Then the prelude says 200 text/event-stream, and the early event arrived before the final one
    expect(preludes.map((p) => [p.statusCode, p.headers?.['content-type']])).toEqual([
      [200, 'text/event-stream; charset=utf-8'],
    ]);
    const events = [...body.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
    expect(events).toEqual(['early', 'final']);
    const earlyAt = chunks.find((c) => c.text.includes('event: early'))?.atMs ?? Infinity;
    const finalAt = chunks.find((c) => c.text.includes('event: final'))?.atMs ?? -Infinity;
    expect(earlyAt).toBeLessThan(finalAt);
    expect(body).toContain('"agreesWithEarly":true');
    expect(drained).toBe(1);
  });

  it('answers a plain request with one whole JSON response through the same stream', async () => {
    // Given the entry and a worker stand-in that answers at once
    const { runtime, preludes } = fakeRuntime();
    const handlers = createIngestHandlers({
      catalog: setup.fixture.catalog,
      queueFor: () => setup.stores.queue,
      results: setup.stores.results,
    });
    const entry = streamingIngestHandler(runtime, () => handlers);
    const worker = answerNext(setup.stores, () => ({
      final: { label: '3', confidence: 0.9, latencyMs: 6, configVersion: 0 },
    }));

    // When a request without a stream Accept header arrives, and one that is refused
    const answered = await invoke(entry, inferEvent(MODEL, { inputs: blankImage(setup.fixture.mnist) }));
    await worker;
    const refused = await invoke(
      entry,
      inferEvent(MODEL, { inputs: [1, 2, 3] }, { accept: 'text/event-stream' }),
    );

    // Then each is one JSON body after a prelude with its status
    expect(preludes.map((p) => p.statusCode)).toEqual([200, 422]);
    expect(JSON.parse(answered.body)).toMatchObject({ label: '3', exit: 'final' });
    expect(JSON.parse(refused.body)).toMatchObject({ error: { code: 'invalid_input' } });
  });
});
