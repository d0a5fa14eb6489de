/**
 * The streamed answer end to end: the local HTTP server with the ingest handlers, dynalite, a
 * request queue (in-process, then BullMQ on the real Redis) with its answer channel (in-process,
 * then Redis pub/sub), and a real worker serving the MNIST fixture with exiting thresholds. The
 * client reads the event stream as it arrives and timestamps each event on its own clock.
 */
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Queue } from 'bullmq';
import type { AnswerChannel } from '../../adapters/answers/answer-channel';
import { MemoryAnswerChannel } from '../../adapters/answers/memory-answer-channel';
import { RedisAnswerChannel } from '../../adapters/answers/redis-answer-channel';
import { ResultStore } from '../../adapters/dynamo/result-store';
import { createRequestQueue } from '../../adapters/create-queue';
import type { QueueKind, RequestQueue } from '../../adapters/queue/request-queue';
import { streamFinalSchema, inferAnswerSchema, errorBodySchema } from '../../functions/api/schemas';
import { localBundleCatalog } from '../../functions/catalog/bundle-catalog';
import { createIngestHandlers } from '../../functions/ingest';
import { startApiServer, type ApiServer } from '../../functions/local/api-server';
import { createResultHandler } from '../../functions/result';
import { ConfigStore } from '../../adapters/dynamo/config-store';
import { PublishingResultSink } from '../../gpu-worker/publishing-result-sink';
import { StoreResultSink } from '../../core/serving/result-sink';
import { ApparateWorker } from '../../gpu-worker/worker';
import { startLocalDynamo, type LocalDynamo } from '../adapters/dynamo/local-dynamo';
import { memoryLogger, servingInput, workerFixture, type WorkerFixture } from '../worker/worker-fixtures';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const MODEL = 'mnist-resnet';

interface TimedEvent {
  readonly name: string;
  readonly data: Record<string, unknown>;
  /** performance.now() on the client when the event's bytes arrived. */
  readonly atMs: number;
}

/** POSTs a sync request asking for a stream and collects its events as they arrive. */
function streamInfer(
  url: string,
  body: unknown,
  accept: string,
): Promise<{ status: number; contentType: string; events: TimedEvent[] }> {
  return new Promise((resolve, reject) => {
    const text = JSON.stringify(body);
    const req = httpRequest(
      `${url}/v1/models/${MODEL}/infer`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept, 'content-length': Buffer.byteLength(text) },
      },
      (response) => {
        const events: TimedEvent[] = [];
        let buffer = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          const atMs = performance.now();
          buffer += chunk;
          const separator = accept === 'text/event-stream' ? '\n\n' : '\n';
          let end: number;
          while ((end = buffer.indexOf(separator)) >= 0) {
            const frame = buffer.slice(0, end);
            buffer = buffer.slice(end + separator.length);
            if (accept === 'text/event-stream') {
              const name = /^event: (.+)$/m.exec(frame)?.[1] ?? '';
              const data = JSON.parse(/^data: (.+)$/m.exec(frame)?.[1] ?? '{}') as Record<string, unknown>;
              events.push({ name, data, atMs });
            } else {
              const { event, ...data } = JSON.parse(frame) as Record<string, unknown>;
              events.push({ name: String(event), data, atMs });
            }
          }
        });
        response.on('end', () => {
          // A refusal is one JSON body, not a stream.
          if (response.statusCode !== 200 && buffer.length > 0) {
            events.push({
              name: 'body',
              data: JSON.parse(buffer) as Record<string, unknown>,
              atMs: performance.now(),
            });
          }
          resolve({
            status: response.statusCode ?? 0,
            contentType: String(response.headers['content-type']),
            events,
          });
        });
        response.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

let fixture: WorkerFixture;

beforeAll(async () => {
  fixture = await workerFixture(MODEL);
});

describe.each<QueueKind>(['memory', 'bullmq'])('streamed answers on the %s transport', (kind) => {
  let dynamo: LocalDynamo;
  let server: ApiServer;
  let queue: RequestQueue;
  let answers: AnswerChannel;
  let worker: ApparateWorker;
  const queueName = `apparate-test-stream-${randomUUID()}`;

  beforeAll(async () => {
    dynamo = await startLocalDynamo();
    const tables = await dynamo.freshTables();
    const results = new ResultStore({ client: dynamo.doc, tableName: tables.results });
    const configs = new ConfigStore({ client: dynamo.doc, tableName: tables.configs });
    queue = createRequestQueue({ kind, name: queueName, redisUrl: REDIS_URL });
    answers =
      kind === 'memory'
        ? new MemoryAnswerChannel()
        : new RedisAnswerChannel({ namespace: queueName, redisUrl: REDIS_URL });
    worker = await ApparateWorker.start({
      bundleDir: fixture.bundle.dir,
      queue,
      sink: new PublishingResultSink(answers, new StoreResultSink(results)),
      // Exiting thresholds on the bundle's own ramps, so that early answers are released.
      config: {
        version: 1,
        ramps: fixture.bundle.manifest.initialConfig.ramps.map((ramp) => ({ id: ramp.id, threshold: 0.5 })),
      },
      logger: memoryLogger().logger,
    });
    const catalog = localBundleCatalog({ [MODEL]: fixture.bundle.dir });
    const ingest = createIngestHandlers({ catalog, queueFor: () => queue, results, answers });
    server = await startApiServer({
      port: 0,
      ingest: ingest.handler,
      streams: { ingest: ingest.stream },
      result: createResultHandler({ catalog, results, configs }),
    });
  });

  afterAll(async () => {
    await server?.close();
    await worker?.stop();
    await queue?.close();
    await answers?.close();
    if (kind === 'bullmq') {
      const admin = new Queue(queueName, { connection: { url: REDIS_URL } });
      await admin.obliterate({ force: true });
      await admin.close();
    }
    await dynamo?.close();
  });

  it('sends the early answer before the final one, on one response', async () => {
    // Given serving inputs, sent one after another as streamed sync requests
    const streams = [];
    for (let index = 400; index < 412; index++) {
      streams.push(
        await streamInfer(
          server.url,
          { inputs: servingInput(fixture, index), deadlineMs: 20_000 },
          'text/event-stream',
        ),
      );
    }

    // Then every stream is 200 text/event-stream and ends with exactly one final event
    for (const { status, contentType, events } of streams) {
      expect(status).toBe(200);
      expect(contentType).toMatch(/^text\/event-stream/);
      expect(events.map((e) => e.name).filter((n) => n === 'final')).toHaveLength(1);
      expect(events.at(-1)?.name).toBe('final');
      expect(streamFinalSchema.safeParse(events.at(-1)?.data).success).toBe(true);
    }
    // ... and where a ramp was confident, the early event came first, earlier on the client's clock,
    // and the final event says whether the early answer agreed
    const exited = streams.filter((s) => s.events[0]?.name === 'early');
    expect(exited.length).toBeGreaterThan(0);
    for (const { events } of exited) {
      const [early, final] = events as [TimedEvent, TimedEvent];
      expect(events).toHaveLength(2);
      expect(inferAnswerSchema.safeParse(early.data).success).toBe(true);
      expect(early.data['exit']).not.toBe('final');
      expect(early.atMs).toBeLessThan(final.atMs);
      expect(typeof final.data['agreesWithEarly']).toBe('boolean');
      expect(early.data['requestId']).toBe(final.data['requestId']);
    }
  });

  it('streams as JSON lines too, and refuses an async stream with a plain JSON error', async () => {
    // When one request asks for NDJSON and another asks to stream an async request
    const lines = await streamInfer(
      server.url,
      { inputs: servingInput(fixture, 420) },
      'application/x-ndjson',
    );
    const refused = await streamInfer(
      server.url,
      { inputs: servingInput(fixture, 421), mode: 'async' },
      'application/x-ndjson',
    );

    // Then the first is a stream of lines ending with the final answer
    expect(lines.status).toBe(200);
    expect(lines.contentType).toMatch(/^application\/x-ndjson/);
    expect(lines.events.at(-1)?.name).toBe('final');
    // ... and the second a 400 whose body is the API's error shape
    expect(refused.status).toBe(400);
    expect(refused.contentType).toMatch(/^application\/json/);
    expect(refused.events.map((e) => e.name)).toEqual(['body']);
    expect(errorBodySchema.safeParse(refused.events[0]?.data).success).toBe(true);
  });
});
