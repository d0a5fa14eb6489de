/**
 * The API end to end: the local HTTP server in front of the ingest and result handlers, dynalite,
 * a request queue (in-process, then BullMQ on the real Redis) and a real worker per fixture model
 * serving the real bundles with onnxruntime. Answers are compared with the plain model run
 * directly, and every response is checked against the OpenAPI document.
 */
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { ConfigStore } from '../../adapters/dynamo/config-store';
import { ResultStore } from '../../adapters/dynamo/result-store';
import { createRequestQueue } from '../../adapters/create-queue';
import type { QueueKind, RequestQueue } from '../../adapters/queue/request-queue';
import { localBundleCatalog } from '../../functions/catalog/bundle-catalog';
import { createIngestHandler } from '../../functions/ingest';
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
import { conformingBody } from './support/api-contract';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const MODELS = ['mnist-resnet', 'spam-bert'] as const;
const INFER = '/v1/models/{model}/infer';
const REQUEST = '/v1/requests/{id}';
/** Generous, so a loaded machine never turns a good request into a 504. */
const SYNC_DEADLINE_MS = 20_000;

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

const fixtures = new Map<string, WorkerFixture>();

beforeAll(async () => {
  for (const model of MODELS) fixtures.set(model, await workerFixture(model));
});

describe.each<QueueKind>(['memory', 'bullmq'])('the API end to end on the %s queue', (kind) => {
  let dynamo: LocalDynamo;
  let server: ApiServer;
  const queues = new Map<string, { queue: RequestQueue; name: string }>();
  const workers: ApparateWorker[] = [];

  beforeAll(async () => {
    dynamo = await startLocalDynamo();
    const tables = await dynamo.freshTables();
    const results = new ResultStore({ client: dynamo.doc, tableName: tables.results });
    const configs = new ConfigStore({ client: dynamo.doc, tableName: tables.configs });
    const dirs: Record<string, string> = {};
    for (const model of MODELS) {
      const fixture = fixtures.get(model) as WorkerFixture;
      dirs[model] = fixture.bundle.dir;
      const name = `apparate-test-api-${randomUUID()}`;
      const queue = createRequestQueue({ kind, name, redisUrl: REDIS_URL });
      queues.set(model, { queue, name });
      workers.push(
        await ApparateWorker.start({
          bundleDir: fixture.bundle.dir,
          queue,
          sink: new StoreResultSink(results),
          // Exiting thresholds on the bundle's own ramps, so that early answers are released.
          config: {
            version: 1,
            ramps: fixture.bundle.manifest.initialConfig.ramps.map((ramp) => ({
              id: ramp.id,
              threshold: 0.5,
            })),
          },
          logger: memoryLogger().logger,
        }),
      );
    }
    const catalog = localBundleCatalog(dirs);
    server = await startApiServer({
      port: 0,
      ingest: createIngestHandler({ catalog, queueFor: (model) => queues.get(model)?.queue, results }),
      result: createResultHandler({ catalog, results, configs }),
    });
  });

  afterAll(async () => {
    await server?.close();
    await Promise.all(workers.map((worker) => worker.stop()));
    for (const { queue, name } of queues.values()) {
      await queue.close();
      if (kind === 'bullmq') {
        const admin = new Queue(name, { connection: { url: REDIS_URL } });
        await admin.obliterate({ force: true });
        await admin.close();
      }
    }
    await dynamo?.close();
  });

  /** Sends a request and checks the response against the document. */
  async function call(
    method: 'GET' | 'POST',
    resource: string,
    path: string,
    body?: string,
  ): Promise<Answer> {
    const response = await fetch(`${server.url}${path}`, {
      method,
      ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } }),
    });
    const answer = { statusCode: response.status, body: await response.text() };
    return {
      status: answer.statusCode,
      body: conformingBody(method, resource, answer) as Record<string, unknown>,
    };
  }

  const infer = (model: string, body: unknown): Promise<Answer> =>
    call('POST', INFER, `/v1/models/${model}/infer`, typeof body === 'string' ? body : JSON.stringify(body));

  /** Reads a request until the full model's answer is recorded. */
  async function finalOf(requestId: string): Promise<Record<string, unknown>> {
    for (let attempt = 0; attempt < 600; attempt++) {
      const { status, body } = await call('GET', REQUEST, `/v1/requests/${requestId}`);
      expect(status).toBe(200);
      if (body['status'] === 'final') return body;
      if (body['status'] === 'error') throw new Error(`request ${requestId} failed: ${JSON.stringify(body)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`request ${requestId} got no final answer`);
  }

  it.each(MODELS)('answers sync and async requests on %s with the plain model’s answers', async (model) => {
    // Given 16 sync and 8 async requests for real serving inputs
    const fixture = fixtures.get(model) as WorkerFixture;
    const classes = fixture.bundle.manifest.model.spec.classes;
    const syncIndices = Array.from({ length: 16 }, (_, i) => i);
    const asyncIndices = Array.from({ length: 8 }, (_, i) => 16 + i);
    const expected = await directPredictions(fixture, [...syncIndices, ...asyncIndices]);

    // When they are sent all at once
    const [syncAnswers, asyncAnswers] = await Promise.all([
      Promise.all(
        syncIndices.map((i) =>
          infer(model, { inputs: servingInput(fixture, i), deadlineMs: SYNC_DEADLINE_MS }),
        ),
      ),
      Promise.all(
        asyncIndices.map((i) =>
          infer(model, { inputs: servingInput(fixture, i), mode: 'async', deadlineMs: 60_000 }),
        ),
      ),
    ]);

    // Then every sync request got an answer, and one that did not exit is the plain model's
    expect(syncAnswers.map((answer) => [answer.status, answer.body['model']])).toEqual(
      syncAnswers.map(() => [200, model]),
    );
    const notExited = syncIndices.filter((i) => syncAnswers[i]?.body['exit'] === 'final');
    expect(notExited.map((i) => syncAnswers[i]?.body['label'])).toEqual(
      notExited.map((i) => classes[expected[i] as number]),
    );
    // And every async request was accepted with a link to its result
    for (const answer of asyncAnswers) {
      expect(answer.status).toBe(202);
      expect(answer.body['links']).toEqual({ result: `/v1/requests/${String(answer.body['requestId'])}` });
    }
    // And every request's final answer, read back through the API, is the plain model's
    const all = [...syncAnswers, ...asyncAnswers];
    const finals = await Promise.all(all.map((answer) => finalOf(String(answer.body['requestId']))));
    expect(finals.map((body) => (body['final'] as { label: string }).label)).toEqual(
      expected.map((index) => classes[index]),
    );
    // And some inputs left early, their early answer kept beside the final one
    const exited = syncAnswers.filter((answer) => answer.body['exit'] !== 'final');
    expect(exited.length).toBeGreaterThan(0);
    expect(finals.filter((body) => body['early'] !== undefined).length).toBeGreaterThanOrEqual(exited.length);
  });

  it('refuses bad requests clearly while good requests sent alongside succeed', async () => {
    // Given good requests for both models and every kind of bad one, sent together
    const mnist = fixtures.get('mnist-resnet') as WorkerFixture;
    const spam = fixtures.get('spam-bert') as WorkerFixture;
    const image = servingInput(mnist, 100) as number[];
    const good = [
      ...[100, 101, 102, 103].map((i) =>
        infer('mnist-resnet', { inputs: servingInput(mnist, i), deadlineMs: SYNC_DEADLINE_MS }),
      ),
      ...[100, 101].map((i) =>
        infer('spam-bert', { inputs: servingInput(spam, i), deadlineMs: SYNC_DEADLINE_MS }),
      ),
    ];
    const bad: [Promise<Answer>, number, string, RegExp][] = [
      [infer('mnist-resnet', '{"inputs": [1, 2,'), 400, 'malformed_json', /^the body is not valid JSON/],
      [
        infer('mnist-resnet', { inputs: image.slice(0, 100) }),
        422,
        'invalid_input',
        /784 grey values.*got an array of 100 values$/,
      ],
      [
        infer('mnist-resnet', { inputs: [...image.slice(1), null] }),
        422,
        'invalid_input',
        /value 783 is null$/,
      ],
      [
        infer('spam-bert', { inputs: ['not', 'text'] }),
        422,
        'invalid_input',
        /non-empty string.*got an array of 2$/,
      ],
      [
        infer('resnet-9000', { inputs: image }),
        404,
        'unknown_model',
        /served models: mnist-resnet, spam-bert$/,
      ],
      [
        infer('spam-bert', { inputs: 'x'.repeat(300_000) }),
        413,
        'body_too_large',
        /at most 262144 bytes \(256 KiB\)/,
      ],
      [
        infer('mnist-resnet', { inputs: image, deadlineMs: -5 }),
        400,
        'invalid_deadline',
        /already past\); got -5$/,
      ],
      [
        infer('mnist-resnet', { inputs: image, deadlineMs: 120_000, mode: 'async' }),
        400,
        'invalid_deadline',
        /from 1 to 60000.*got 120000$/,
      ],
      [
        infer('mnist-resnet', { inputs: image, deadlineMs: 1 }),
        504,
        'deadline_exceeded',
        /^no answer within the deadline of 1 ms/,
      ],
    ];
    const [goodAnswers, badAnswers] = await Promise.all([
      Promise.all(good),
      Promise.all(bad.map(([answer]) => answer)),
    ]);

    // Then each bad request got its status, code and a message saying what was wrong
    for (const [i, [, status, code, message]] of bad.entries()) {
      const answer = badAnswers[i] as Answer;
      expect({ status: answer.status, code: (answer.body['error'] as { code: string }).code }).toEqual({
        status,
        code,
      });
      expect((answer.body['error'] as { message: string }).message).toMatch(message);
    }
    // And every good request was answered, with the plain model's final answer
    const expectedMnist = await directPredictions(mnist, [100, 101, 102, 103]);
    const expectedSpam = await directPredictions(spam, [100, 101]);
    const expectedLabels = [
      ...expectedMnist.map((index) => mnist.bundle.manifest.model.spec.classes[index]),
      ...expectedSpam.map((index) => spam.bundle.manifest.model.spec.classes[index]),
    ];
    expect(goodAnswers.map((answer) => answer.status)).toEqual(good.map(() => 200));
    const finals = await Promise.all(goodAnswers.map((answer) => finalOf(String(answer.body['requestId']))));
    expect(finals.map((body) => (body['final'] as { label: string }).label)).toEqual(expectedLabels);
    // And nothing was dead-lettered
    for (const { queue } of queues.values()) expect(await queue.deadLettered()).toEqual([]);
  });
});
