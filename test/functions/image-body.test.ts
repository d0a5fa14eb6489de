/**
 * Image files as the raw request body (`Content-Type: image/png` or `image/jpeg`) over HTTP: the
 * local server in front of the /v1 ingest, dynalite, an in-process queue and a real worker on the
 * mnist-resnet fixture bundle. The server hands the body to the handler base64-encoded, as API
 * Gateway does for the binary media types the deployed API declares.
 */
import { randomUUID } from 'node:crypto';
import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { createRequestQueue } from '../../adapters/create-queue';
import { ResultStore } from '../../adapters/dynamo/result-store';
import { ConfigStore } from '../../adapters/dynamo/config-store';
import type { RequestQueue } from '../../adapters/queue/request-queue';
import { MAX_IMAGE_BODY_BYTES } from '../../functions/api/limits';
import { localBundleCatalog } from '../../functions/catalog/bundle-catalog';
import { MemoryAnswerChannel } from '../../adapters/answers/memory-answer-channel';
import { createIngestHandlers } from '../../functions/ingest';
import { PublishingResultSink } from '../../gpu-worker/publishing-result-sink';
import { startApiServer, type ApiServer } from '../../functions/local/api-server';
import { createResultHandler } from '../../functions/result';
import { StoreResultSink } from '../../core/serving/result-sink';
import { ApparateWorker } from '../../gpu-worker/worker';
import { startLocalDynamo, type LocalDynamo } from '../adapters/dynamo/local-dynamo';
import {
  directPredictions,
  memoryLogger,
  servingInput,
  workerFixture,
  type WorkerFixture,
} from '../worker/worker-fixtures';

const MODEL = 'mnist-resnet';
let fixture: WorkerFixture;
let dynamo: LocalDynamo;
let server: ApiServer;
let queue: RequestQueue;
let worker: ApparateWorker;
let answers: MemoryAnswerChannel;

beforeAll(async () => {
  fixture = await workerFixture(MODEL);
  dynamo = await startLocalDynamo();
  const tables = await dynamo.freshTables();
  const results = new ResultStore({ client: dynamo.doc, tableName: tables.results });
  const configs = new ConfigStore({ client: dynamo.doc, tableName: tables.configs });
  answers = new MemoryAnswerChannel();
  queue = createRequestQueue({ kind: 'memory', name: `apparate-test-image-body-${randomUUID()}` });
  worker = await ApparateWorker.start({
    bundleDir: fixture.bundle.dir,
    queue,
    // Answers are pushed too, so the streamed form (Accept: text/event-stream) is served as on the stack.
    sink: new PublishingResultSink(answers, new StoreResultSink(results)),
    // Threshold 0 never exits, so every answer is the full model's and can be compared exactly.
    config: {
      version: 1,
      ramps: fixture.bundle.manifest.initialConfig.ramps.map((r) => ({ id: r.id, threshold: 0 })),
    },
    logger: memoryLogger().logger,
  });
  const catalog = localBundleCatalog({ [MODEL]: fixture.bundle.dir });
  const ingest = createIngestHandlers({
    catalog,
    queueFor: (model) => (model === MODEL ? queue : undefined),
    results,
    answers,
  });
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
  await dynamo?.close();
});

/** The grey serving digit `index` as RGBA, `size`x`size`, scaled up by nearest neighbour. */
function digitRgba(index: number, size: number): Buffer {
  const grey = servingInput(fixture, index) as number[];
  const rgba = Buffer.alloc(size * size * 4);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const v = grey[Math.floor((y * 28) / size) * 28 + Math.floor((x * 28) / size)] as number;
      rgba.set([v, v, v, 255], (y * size + x) * 4);
    }
  }
  return rgba;
}

function digitPng(index: number, size = 28): Buffer {
  const png = new PNG({ width: size, height: size });
  png.data = digitRgba(index, size);
  return PNG.sync.write(png);
}

function digitJpeg(index: number, size: number): Buffer {
  return jpeg.encode({ data: digitRgba(index, size), width: size, height: size }, 95).data;
}

async function post(
  body: Uint8Array | string,
  contentType: string,
  query = '',
): Promise<{
  status: number;
  body: { label?: string; status?: string; error?: { code: string; message: string } };
}> {
  const response = await fetch(`${server.url}/v1/models/${MODEL}/infer${query}`, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body,
  });
  return { status: response.status, body: (await response.json()) as never };
}

describe('image files as the request body', () => {
  it('answers a PNG and a JPEG body with the label the model gives the same digit as an array', async () => {
    // Given four serving digits and the plain model's answers on their arrays
    const rows = [0, 1, 2, 3];
    const expected = (await directPredictions(fixture, rows)).map(
      (k) => fixture.bundle.manifest.model.spec.classes[k],
    );

    // When each is posted as a 28x28 PNG body, and as a 56x56 JPEG body
    const pngs = await Promise.all(rows.map((i) => post(digitPng(i), 'image/png')));
    const jpegs = await Promise.all(rows.map((i) => post(digitJpeg(i, 56), 'image/jpeg; charset=binary')));

    // Then every one is answered with the model's own label for that digit
    expect(pngs.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(pngs.map((r) => r.body.label)).toEqual(expected);
    expect(jpegs.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(jpegs.map((r) => r.body.label)).toEqual(expected);
  });

  it('streams the answer to a PNG body as server-sent events, like a JSON request', async () => {
    // Given the plain model's answer on a digit
    const [expected] = (await directPredictions(fixture, [6])).map(
      (k) => fixture.bundle.manifest.model.spec.classes[k],
    );

    // When the digit is posted as a PNG body asking for a stream
    const response = await fetch(`${server.url}/v1/models/${MODEL}/infer?deadlineMs=20000`, {
      method: 'POST',
      headers: { 'content-type': 'image/png', accept: 'text/event-stream' },
      body: digitPng(6),
    });
    const text = await response.text();

    // Then the stream ends with the final event carrying the model's label
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const finals = text.split('\n\n').filter((block) => block.startsWith('event: final'));
    expect(finals).toHaveLength(1);
    const data = JSON.parse(
      finals[0]!
        .split('\n')
        .find((line) => line.startsWith('data: '))!
        .slice(6),
    ) as {
      label: string;
    };
    expect(data.label).toBe(expected);
  });

  it('takes mode and deadlineMs from the query string', async () => {
    // When a PNG body asks for async mode and a 10 s deadline
    const answer = await post(digitPng(5), 'image/png', '?mode=async&deadlineMs=10000');

    // Then it is accepted at once, like an async JSON request
    expect(answer.status).toBe(202);
    expect(answer.body.status).toBe('pending');
  });

  it.each<[string, () => Uint8Array, string, string, number, string, RegExp]>([
    [
      'bytes that are no image file',
      () => Buffer.from('definitely not a png'),
      'image/png',
      '',
      422,
      'invalid_input',
      /^the image\/png body cannot be used: the bytes are neither a PNG nor a JPEG file/,
    ],
    [
      'an empty body',
      () => Buffer.alloc(0),
      'image/png',
      '',
      400,
      'invalid_request',
      /the request has no body; send the image\/png file as the body/,
    ],
    [
      'a GIF',
      () => Buffer.from('GIF89a'),
      'image/gif',
      '',
      415,
      'unsupported_media_type',
      /Content-Type image\/gif is not accepted; an image body must be image\/png or image\/jpeg/,
    ],
    [
      'an unknown query parameter',
      () => digitPng(0),
      'image/png',
      '?deadline=100',
      400,
      'invalid_request',
      /unknown query parameter "deadline"; an image body allows: deadlineMs, mode/,
    ],
    [
      'a deadline that is not a number',
      () => digitPng(0),
      'image/png',
      '?deadlineMs=soon',
      400,
      'invalid_deadline',
      /deadlineMs must be a whole number of milliseconds from 1 to 60000.*got "soon"/,
    ],
  ])('refuses %s with a message naming the problem', async (_, body, type, query, status, code, message) => {
    const answer = await post(body(), type, query);
    expect(answer.status).toBe(status);
    expect(answer.body.error?.code).toBe(code);
    expect(answer.body.error?.message).toMatch(message);
  });

  it('refuses a file over the image body limit before decoding it, and a truncated PNG after', async () => {
    // Given a real PNG padded past the limit, and one cut short
    const png = digitPng(0, 28);
    const oversized = Buffer.concat([png, Buffer.alloc(MAX_IMAGE_BODY_BYTES)]);
    const truncated = png.subarray(0, Math.floor(png.length / 2));

    // Then the first is refused as too large, naming the limit, and the second as undecodable
    const big = await post(oversized, 'image/png');
    expect(big.status).toBe(413);
    expect(big.body.error?.message).toBe(
      `the image/png file is ${oversized.length} bytes; at most ${MAX_IMAGE_BODY_BYTES} bytes (190 KiB) are accepted as an image body`,
    );
    const cut = await post(truncated, 'image/png');
    expect(cut.status).toBe(422);
    expect(cut.body.error?.message).toMatch(
      /^the image\/png body cannot be used: the image cannot be decoded/,
    );
  });
});
