/**
 * A task's deployed API at the SDK boundary: the ingest and result functions wired from the
 * environment the CDK app sets for a task (`APPARATE_TASK_VARIANTS`), with SQS a fake behind the
 * mocked client (as the SQS adapter's tests use it), S3 holding a real bundle manifest per variant's
 * bucket, and the plan store and every variant's tables on dynalite. Requests naming the task must be
 * queued on the variants' queues in the published plan's proportions, each answer naming its variant.
 */
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { PlanStore, ResultStore, type TableNames } from '../../adapters/dynamo';
import { SqsRequestQueue } from '../../adapters/sqs';
import { ENV } from '../../core/deployment/cloud-names';
import type { TaskVariantResources } from '../../core/deployment/task-variants';
import type { FleetPlan } from '../../core/fleet/plan';
import { InputError } from '../../core/errors';
import { taskIngestHandlers, taskResultHandler } from '../../functions/task/task-wiring';
import { startLocalDynamo, type LocalDynamo } from '../adapters/dynamo/local-dynamo';
import { FakeSqs } from '../adapters/queue/fake-sqs';
import { workerFixture, type WorkerFixture } from '../worker/worker-fixtures';
import { blankImage } from './support/handler-fixture';
import { inferEvent, requestEvent } from './support/proxy-events';

jest.setTimeout(120_000);

const VARIANTS = ['mnist-resnet', 'mnist-resnet-medium', 'mnist-resnet-small'] as const;
const SQS_BASE = 'https://sqs.eu-west-1.amazonaws.com/123456789012';

/** An S3 GetObject body as the SDK hands it over (only the method the catalog uses). */
const objectBody = (text: string) =>
  ({ transformToString: () => Promise.resolve(text) }) as unknown as NonNullable<
    Awaited<ReturnType<S3Client['send']>>
  >;

/** A plan of the digits task: workers and dispatch weight per variant. */
function digitsPlan(shares: Readonly<Record<string, [workers: number, weight: number]>>): FleetPlan {
  const workers = Object.values(shares).reduce((sum, [w]) => sum + w, 0);
  return {
    task: 'digits',
    forecastRps: 100,
    plannedRps: 100,
    capacityRps: 100 * workers,
    feasible: true,
    groups: Object.entries(shares).map(([variant, [w, weight]]) => ({
      variant,
      exits: 'off',
      workers: w,
      weight,
      loadRps: 100 * weight,
      capacityRps: 100 * w,
    })),
    objective: { accuracy: 0.99, workers, loadingSeconds: 0, value: 0.9 },
  };
}

let dynamo: LocalDynamo;
let mnist: WorkerFixture;
let sqs: SQSClient;
let sqsMock: AwsClientStub<SQSClient>;
let fake: FakeSqs;
let s3: S3Client;
let tables: Record<string, TableNames>;
let env: Record<string, string>;

beforeAll(async () => {
  mnist = await workerFixture('mnist-resnet');
  dynamo = await startLocalDynamo();
  fake = new FakeSqs();
  sqs = new SQSClient({ region: 'eu-west-1' });
  sqsMock = fake.attach(sqs);
  s3 = new S3Client({ region: 'eu-west-1' });
  const s3Mock = mockClient(s3);
  tables = {};
  const variants: Record<string, TaskVariantResources> = {};
  for (const variant of VARIANTS) {
    const names = await dynamo.freshTables();
    tables[variant] = names;
    const queueUrl = `${SQS_BASE}/${variant}-requests`;
    fake.createQueue(`${queueUrl}-dlq`);
    fake.createQueue(queueUrl, { deadLetterQueueUrl: `${queueUrl}-dlq`, maxReceiveCount: 5 });
    const bucket = `${variant}-bundles`;
    // Each variant's manifest sits in its own deployment's bucket (one real manifest, renamed).
    const manifest = { ...mnist.bundle.manifest, model: { ...mnist.bundle.manifest.model, name: variant } };
    s3Mock
      .on(GetObjectCommand, { Bucket: bucket, Key: `bundles/${variant}/manifest.json` })
      .resolves({ Body: objectBody(JSON.stringify(manifest)) } as never);
    variants[variant] = {
      queueUrl,
      deadLetterQueueUrl: `${queueUrl}-dlq`,
      resultsTable: names.results,
      configsTable: names.configs,
      bundleBucket: bucket,
    };
  }
  env = {
    [ENV.task]: 'digits',
    [ENV.taskVariants]: JSON.stringify(variants),
    // The fleet controller publishes the task's plans in the first variant's configs table.
    [ENV.plansTable]: (tables[VARIANTS[0]] as TableNames).configs,
    [ENV.bundlePrefix]: 'bundles/',
  };
});

afterAll(async () => {
  fake.close();
  sqsMock.restore();
  sqs.destroy();
  s3.destroy();
  await dynamo.close();
});

/** The queue each request id was sent to, from the SDK calls the fake received. */
function sentQueues(): Map<string, string> {
  const byRequest = new Map<string, string>();
  for (const call of sqsMock.commandCalls(SendMessageCommand)) {
    const { QueueUrl, MessageBody } = call.args[0].input;
    const request = JSON.parse(MessageBody ?? '{}') as { requestId: string; model: string };
    byRequest.set(request.requestId, `${QueueUrl}#${request.model}`);
  }
  return byRequest;
}

async function sendAsync(
  ingest: ReturnType<typeof taskIngestHandlers>,
  name: string,
  count: number,
): Promise<Array<{ requestId: string; model: string }>> {
  const accepted: Array<{ requestId: string; model: string }> = [];
  for (let i = 0; i < count; i++) {
    const response = await ingest.handler(inferEvent(name, { inputs: blankImage(mnist), mode: 'async' }));
    expect(response.statusCode).toBe(202);
    accepted.push(JSON.parse(response.body) as { requestId: string; model: string });
  }
  return accepted;
}

const tally = (models: readonly string[]): Record<string, number> =>
  models.reduce<Record<string, number>>((counts, m) => ({ ...counts, [m]: (counts[m] ?? 0) + 1 }), {});

describe("a task's API on AWS", () => {
  it("queues requests naming the task on the variants' queues by the plan's weights, and names the variant", async () => {
    // Given a published plan: medium a quarter of the requests, small three quarters, large none
    const plans = new PlanStore({ client: dynamo.doc, tableName: env[ENV.plansTable] as string });
    await plans.publish('digits', {
      version: 0,
      decidedAtMs: Date.now(),
      plan: digitsPlan({
        'mnist-resnet': [0, 0],
        'mnist-resnet-medium': [1, 0.25],
        'mnist-resnet-small': [3, 0.75],
      }),
    });
    const ingest = taskIngestHandlers(env, { clients: { sqs, dynamo: dynamo.client, s3 } });

    // When 40 asynchronous requests name the task
    const accepted = await sendAsync(ingest, 'digits', 40);

    // Then each answer names the variant it went to, in the plan's proportions exactly
    expect(tally(accepted.map((a) => a.model))).toEqual({
      'mnist-resnet-medium': 10,
      'mnist-resnet-small': 30,
    });
    // And each went to that variant's own queue, carrying the variant as its model
    const queues = sentQueues();
    for (const { requestId, model } of accepted) {
      expect(queues.get(requestId)).toBe(`${SQS_BASE}/${model}-requests#${model}`);
    }
    // And each is accepted in that variant's results table only
    for (const { requestId, model } of accepted.slice(0, 4)) {
      for (const variant of VARIANTS) {
        const record = await new ResultStore({
          client: dynamo.doc,
          tableName: (tables[variant] as TableNames).results,
        }).get(requestId);
        expect(record?.status).toBe(variant === model ? 'pending' : undefined);
      }
    }

    // When a new plan moves the traffic (half large, half small) and the routing reads it
    await plans.publish('digits', {
      version: 1,
      decidedAtMs: Date.now(),
      plan: digitsPlan({
        'mnist-resnet': [2, 0.5],
        'mnist-resnet-medium': [0, 0],
        'mnist-resnet-small': [2, 0.5],
      }),
    });
    await ingest.routing.refresh();
    const moved = await sendAsync(ingest, 'digits', 20);

    // Then the next requests follow it
    expect(tally(moved.map((a) => a.model))).toEqual({ 'mnist-resnet': 10, 'mnist-resnet-small': 10 });

    // And a request naming a variant directly goes to that variant, whatever the plan gives it
    const [direct] = await sendAsync(ingest, 'mnist-resnet-medium', 1);
    expect(direct?.model).toBe('mnist-resnet-medium');
    expect(sentQueues().get(direct?.requestId ?? '')).toBe(
      `${SQS_BASE}/mnist-resnet-medium-requests#mnist-resnet-medium`,
    );
  });

  it("answers a synchronous request from the chosen variant's worker, and GET finds it in that variant's table", async () => {
    // Given the plan in force sends everything to the small variant, and a worker there
    const plans = new PlanStore({ client: dynamo.doc, tableName: env[ENV.plansTable] as string });
    const latest = (await plans.latest('digits'))?.plan.version ?? -1;
    await plans.publish('digits', {
      version: latest + 1,
      decidedAtMs: Date.now(),
      plan: digitsPlan({ 'mnist-resnet-small': [1, 1] }),
    });
    const ingest = taskIngestHandlers(env, { clients: { sqs, dynamo: dynamo.client, s3 } });
    const small = tables['mnist-resnet-small'] as TableNames;
    const queue = new SqsRequestQueue({
      client: sqs,
      queueUrl: `${SQS_BASE}/mnist-resnet-small-requests`,
      deadLetterQueueUrl: `${SQS_BASE}/mnist-resnet-small-requests-dlq`,
    });
    const worker = (async () => {
      for (;;) {
        const [message] = await queue.receive(1, 1000);
        if (message === undefined) continue;
        // Requests left over from the first test are settled too; only the sync one is awaited.
        await new ResultStore({ client: dynamo.doc, tableName: small.results }).putSettled(
          message.request.requestId,
          message.request.model,
          { label: '4', confidence: 0.9, latencyMs: 3 },
        );
        await queue.ack(message);
        if (message.request.mode === 'sync') return message.request;
      }
    })();

    // When a synchronous request names the task
    const response = await ingest.handler(inferEvent('digits', { inputs: blankImage(mnist), mode: 'sync' }));
    const served = await worker;

    // Then its answer is the small variant's, and names it
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body)).toMatchObject({ model: 'mnist-resnet-small', label: '4' });
    expect(served.model).toBe('mnist-resnet-small');

    // And the task's result function finds the request in the small variant's table
    const result = taskResultHandler(env, { dynamo: dynamo.client, s3 });
    const status = await result(requestEvent(served.requestId));
    expect(status.statusCode).toBe(200);
    expect(JSON.parse(status.body)).toMatchObject({ status: 'final', model: 'mnist-resnet-small' });
  });

  it('sends a retry with the same idempotency key to the variant the request first went to', async () => {
    // Given a plan that alternates between two variants
    const plans = new PlanStore({ client: dynamo.doc, tableName: env[ENV.plansTable] as string });
    const latest = (await plans.latest('digits'))?.plan.version ?? -1;
    await plans.publish('digits', {
      version: latest + 1,
      decidedAtMs: Date.now(),
      plan: digitsPlan({ 'mnist-resnet-medium': [1, 0.5], 'mnist-resnet-small': [1, 0.5] }),
    });
    const ingest = taskIngestHandlers(env, { clients: { sqs, dynamo: dynamo.client, s3 } });
    const send = async (key: string) => {
      const response = await ingest.handler(
        inferEvent('digits', { inputs: blankImage(mnist), mode: 'async' }, { 'idempotency-key': key }),
      );
      expect(response.statusCode).toBe(202);
      return JSON.parse(response.body) as { requestId: string; model: string };
    };

    // When a request is sent, and retried with its key while still pending
    const firstTry = await send('retry-me');
    const retry = await send('retry-me');

    // Then the retry is the same request, queued on the same variant's queue, though the weights
    // would have sent the next request elsewhere
    expect({ requestId: retry.requestId, model: retry.model }).toEqual({
      requestId: firstTry.requestId,
      model: firstTry.model,
    });
    const queued = sqsMock
      .commandCalls(SendMessageCommand)
      .map((call) => call.args[0].input)
      .filter(
        (input) =>
          (JSON.parse(input.MessageBody ?? '{}') as { requestId?: string }).requestId === retry.requestId,
      );
    expect(queued.map((input) => input.QueueUrl)).toEqual([
      `${SQS_BASE}/${firstTry.model}-requests`,
      `${SQS_BASE}/${firstTry.model}-requests`,
    ]);
    // (the weights do alternate: two new requests in a row go to the two variants)
    const [next, after] = [await send('another-key'), await send('a-third-key')];
    expect(new Set([next.model, after.model]).size).toBe(2);
  });

  it('refuses an environment whose variants are malformed, naming what is wrong', () => {
    const broken = { ...env, [ENV.taskVariants]: JSON.stringify({ 'mnist-resnet': { queueUrl: 'q' } }) };
    expect(() => taskIngestHandlers(broken)).toThrow(InputError);
    expect(() => taskIngestHandlers(broken)).toThrow(/mnist-resnet\.deadLetterQueueUrl/);
    expect(() => taskIngestHandlers({ ...env, [ENV.taskVariants]: 'not json' })).toThrow(
      /JSON object of variant/,
    );
    const resources = (JSON.parse(env[ENV.taskVariants] as string) as Record<string, unknown>)[
      'mnist-resnet'
    ];
    expect(() =>
      taskIngestHandlers({ ...env, [ENV.taskVariants]: JSON.stringify({ digits: resources }) }),
    ).toThrow(/task digits cannot also name one of its variants/);
    // Only the ingest follows the plans, so only it needs their table
    const noPlans = { ...env, [ENV.plansTable]: undefined };
    expect(() => taskIngestHandlers(noPlans)).toThrow(/APPARATE_PLANS_TABLE: is not set/);
    expect(typeof taskResultHandler(noPlans, { dynamo: dynamo.client, s3 })).toBe('function');
  });
});
