/**
 * The Open Inference Protocol (v2 REST) over HTTP: the local server in front of the v2 handler and
 * the /v1 ingest it translates to, dynalite, an in-process queue and a real worker per fixture
 * model. Bodies are checked against the protocol's published request and response shapes.
 */
import { randomUUID } from 'node:crypto';
import { PNG } from 'pngjs';
import { z } from 'zod';
import { ResultStore } from '../../adapters/dynamo/result-store';
import { createRequestQueue } from '../../adapters/create-queue';
import type { RequestQueue } from '../../adapters/queue/request-queue';
import { localBundleCatalog } from '../../functions/catalog/bundle-catalog';
import { createIngestHandler, createOpenInferenceHandler } from '../../functions/ingest';
import { startApiServer, type ApiServer } from '../../functions/local/api-server';
import { createResultHandler } from '../../functions/result';
import { ConfigStore } from '../../adapters/dynamo/config-store';
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

const MODELS = ['mnist-resnet', 'spam-bert'] as const;

/** The protocol's shapes (KServe's "Open Inference Protocol" REST specification). */
const tensorMetadata = z.strictObject({
  name: z.string(),
  datatype: z.string(),
  shape: z.array(z.number().int()),
});
const modelMetadata = z.strictObject({
  name: z.string(),
  versions: z.array(z.string()).optional(),
  platform: z.string(),
  inputs: z.array(tensorMetadata),
  outputs: z.array(tensorMetadata),
});
const parameters = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));
const inferResponse = z.strictObject({
  model_name: z.string(),
  model_version: z.string().optional(),
  id: z.string(),
  parameters: parameters.optional(),
  outputs: z.array(
    z.strictObject({
      name: z.string(),
      shape: z.array(z.number().int()),
      datatype: z.string(),
      parameters: parameters.optional(),
      data: z.array(z.union([z.number(), z.string()])),
    }),
  ),
});
const errorBody = z.strictObject({ error: z.string() });

const fixtures = new Map<string, WorkerFixture>();
let dynamo: LocalDynamo;
let server: ApiServer;
const queues: RequestQueue[] = [];
const workers: ApparateWorker[] = [];

beforeAll(async () => {
  for (const model of MODELS) fixtures.set(model, await workerFixture(model));
  dynamo = await startLocalDynamo();
  const tables = await dynamo.freshTables();
  const results = new ResultStore({ client: dynamo.doc, tableName: tables.results });
  const configs = new ConfigStore({ client: dynamo.doc, tableName: tables.configs });
  const byModel = new Map<string, RequestQueue>();
  const dirs: Record<string, string> = {};
  for (const model of MODELS) {
    const fixture = fixtures.get(model)!;
    dirs[model] = fixture.bundle.dir;
    const queue = createRequestQueue({ kind: 'memory', name: `apparate-test-v2-${randomUUID()}` });
    queues.push(queue);
    byModel.set(model, queue);
    workers.push(
      await ApparateWorker.start({
        bundleDir: fixture.bundle.dir,
        queue,
        sink: new StoreResultSink(results),
        // Threshold 0 never exits, so every answer is the full model's and can be compared exactly.
        config: {
          version: 1,
          ramps: fixture.bundle.manifest.initialConfig.ramps.map((r) => ({ id: r.id, threshold: 0 })),
        },
        logger: memoryLogger().logger,
      }),
    );
  }
  const catalog = localBundleCatalog(dirs);
  const ingest = createIngestHandler({ catalog, queueFor: (model) => byModel.get(model), results });
  server = await startApiServer({
    port: 0,
    ingest,
    result: createResultHandler({ catalog, results, configs }),
    openInference: createOpenInferenceHandler({ ingest, catalog }),
  });
});

afterAll(async () => {
  await server?.close();
  await Promise.all(workers.map((worker) => worker.stop()));
  await Promise.all(queues.map((queue) => queue.close()));
  await dynamo?.close();
});

async function call(
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    ...(body === undefined
      ? {}
      : {
          body: typeof body === 'string' ? body : JSON.stringify(body),
          headers: { 'content-type': 'application/json' },
        }),
  });
  return { status: response.status, body: await response.json() };
}

describe('Open Inference Protocol v2 over HTTP', () => {
  it('answers health, readiness and metadata with the protocol shapes', async () => {
    expect(await call('GET', '/v2/health/live')).toEqual({ status: 200, body: { live: true } });
    expect(await call('GET', '/v2/health/ready')).toEqual({ status: 200, body: { ready: true } });
    expect(await call('GET', '/v2/models/mnist-resnet/ready')).toEqual({
      status: 200,
      body: { name: 'mnist-resnet', ready: true },
    });

    // Then metadata names the input tensor with its datatype and shape, the batch as -1
    const image = await call('GET', '/v2/models/mnist-resnet');
    expect(image.status).toBe(200);
    const imageMeta = modelMetadata.parse(image.body);
    expect(imageMeta.inputs).toEqual([{ name: 'pixels', datatype: 'FP32', shape: [-1, 1, 28, 28] }]);
    expect(imageMeta.outputs.map((o) => `${o.name}:${o.datatype}`)).toEqual([
      'label:BYTES',
      'confidence:FP32',
      'exit:BYTES',
    ]);
    const text = modelMetadata.parse((await call('GET', '/v2/models/spam-bert')).body);
    expect(text.inputs).toEqual([{ name: 'text', datatype: 'BYTES', shape: [-1] }]);

    // And an unknown model is a 404 in the protocol's error form, naming the served ones
    const unknown = await call('GET', '/v2/models/resnet-50');
    expect(unknown.status).toBe(404);
    expect(errorBody.parse(unknown.body).error).toMatch(
      /not served here; served models: mnist-resnet, spam-bert/,
    );
  });

  it('infers a batch of FP32 images, and INT64 ones, with the plain model’s answers and the exit point', async () => {
    // Given 3 MNIST serving images as one FP32 tensor [3, 1, 28, 28]
    const fixture = fixtures.get('mnist-resnet')!;
    const rows = [0, 1, 2];
    const data = rows.flatMap((i) => servingInput(fixture, i) as number[]);
    const expected = (await directPredictions(fixture, rows)).map(
      (k) => fixture.bundle.manifest.model.spec.classes[k],
    );

    // When it is sent to the v2 infer route
    const answer = await call('POST', '/v2/models/mnist-resnet/infer', {
      id: 'batch-1',
      inputs: [{ name: 'pixels', shape: [3, 1, 28, 28], datatype: 'FP32', data }],
    });

    // Then the response has the protocol's shape, the request id, and one row per image
    expect(answer.status).toBe(200);
    const body = inferResponse.parse(answer.body);
    expect(body.model_name).toBe('mnist-resnet');
    expect(body.id).toBe('batch-1');
    const byName = new Map(body.outputs.map((o) => [o.name, o]));
    expect(byName.get('label')).toMatchObject({ datatype: 'BYTES', shape: [3], data: expected });
    expect(byName.get('confidence')!.data.every((c) => typeof c === 'number' && c > 0 && c <= 1)).toBe(true);
    expect(byName.get('exit')!.data).toEqual(['final', 'final', 'final']);
    expect(byName.get('label')!.parameters).toEqual({ exit: 'final,final,final' });

    // And the same pixels as INT64, asking for the label only, give the same labels
    const ints = await call('POST', '/v2/models/mnist-resnet/infer', {
      inputs: [{ name: 'pixels', shape: [3, 1, 28, 28], datatype: 'INT64', data }],
      outputs: [{ name: 'label' }],
    });
    const intBody = inferResponse.parse(ints.body);
    expect(intBody.outputs.map((o) => o.name)).toEqual(['label']);
    expect(intBody.outputs[0]!.data).toEqual(expected);

    // And the same digits as PNG files in a BYTES tensor (one base64 file per row) give the same labels
    const files = rows.map((i) => {
      const png = new PNG({ width: 28, height: 28 });
      const grey = servingInput(fixture, i) as number[];
      grey.forEach((v, p) => png.data.set([v, v, v, 255], p * 4));
      return PNG.sync.write(png).toString('base64');
    });
    const pngs = await call('POST', '/v2/models/mnist-resnet/infer', {
      inputs: [{ name: 'pixels', shape: [3], datatype: 'BYTES', data: files }],
    });
    expect(pngs.status).toBe(200);
    expect(inferResponse.parse(pngs.body).outputs.find((o) => o.name === 'label')!.data).toEqual(expected);
  });

  it('infers BYTES text rows on the text model', async () => {
    const fixture = fixtures.get('spam-bert')!;
    const rows = [0, 1];
    const expected = (await directPredictions(fixture, rows)).map(
      (k) => fixture.bundle.manifest.model.spec.classes[k],
    );
    const answer = await call('POST', '/v2/models/spam-bert/infer', {
      inputs: [
        { name: 'text', shape: [2], datatype: 'BYTES', data: rows.map((i) => servingInput(fixture, i)) },
      ],
      parameters: { deadlineMs: 20000 },
    });
    expect(answer.status).toBe(200);
    const body = inferResponse.parse(answer.body);
    expect(body.outputs.find((o) => o.name === 'label')).toMatchObject({ shape: [2], data: expected });
  });

  it.each([
    ['a body that is not JSON', 'mnist-resnet', '{"inputs": [', 400, /not valid JSON/],
    ['no inputs', 'mnist-resnet', { id: 'x' }, 400, /inputs: /],
    [
      'an unknown datatype',
      'mnist-resnet',
      { inputs: [{ name: 'pixels', shape: [1], datatype: 'FP16', data: [1] }] },
      400,
      /datatype must be one of BOOL, UINT8, INT32, INT64, FP32, FP64, BYTES/,
    ],
    [
      'a wrong shape',
      'mnist-resnet',
      { inputs: [{ name: 'pixels', shape: [1, 28, 28], datatype: 'FP32', data: [] }] },
      400,
      /takes one input tensor pixels of datatype FP32 or INT64 \(or BYTES: PNG or JPEG files, shape \[N\]\) and shape \[N, 1, 28, 28\].*got shape \[1, 28, 28\]/,
    ],
    [
      'too few values',
      'mnist-resnet',
      { inputs: [{ name: 'pixels', shape: [1, 1, 28, 28], datatype: 'FP32', data: [0, 1] }] },
      400,
      /needs 784 data values; got 2/,
    ],
    [
      'an image file that is not base64',
      'mnist-resnet',
      { inputs: [{ name: 'pixels', shape: [1], datatype: 'BYTES', data: ['not base64!'] }] },
      400,
      /input\.image must be a PNG or JPEG file, base64-encoded; it is not base64/,
    ],
    [
      'text for an image model',
      'mnist-resnet',
      {
        inputs: [
          {
            name: 'pixels',
            shape: [1, 1, 28, 28],
            datatype: 'BYTES',
            data: new Array<string>(784).fill('a'),
          },
        ],
      },
      400,
      /got datatype BYTES/,
    ],
    [
      'a pixel out of range',
      'mnist-resnet',
      {
        inputs: [
          {
            name: 'pixels',
            shape: [1, 1, 28, 28],
            datatype: 'FP32',
            data: [300, ...new Array<number>(783).fill(0)],
          },
        ],
      },
      400,
      /value 0 is 300/,
    ],
    [
      'an input of another name',
      'spam-bert',
      { inputs: [{ name: 'input_ids', shape: [1], datatype: 'BYTES', data: ['hi'] }] },
      400,
      /got an input named input_ids/,
    ],
    [
      'a deadline that is not a whole number of milliseconds',
      'spam-bert',
      {
        inputs: [{ name: 'text', shape: [1], datatype: 'BYTES', data: ['hi'] }],
        parameters: { deadlineMs: 'soon' },
      },
      400,
      /parameters\.deadlineMs must be a whole number of milliseconds above 0, got "soon"/,
    ],
    [
      'an unknown output',
      'spam-bert',
      {
        inputs: [{ name: 'text', shape: [1], datatype: 'BYTES', data: ['hi'] }],
        outputs: [{ name: 'logits' }],
      },
      400,
      /has no output logits; its outputs are label, confidence, exit/,
    ],
    [
      'an unknown model',
      'resnet-50',
      { inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [0] }] },
      404,
      /not served here/,
    ],
  ])('refuses %s with the protocol error form', async (_what, model, body, status, message) => {
    const answer = await call('POST', `/v2/models/${model}/infer`, body);
    expect(answer.status).toBe(status);
    expect(errorBody.parse(answer.body).error).toMatch(message);
  });
});
