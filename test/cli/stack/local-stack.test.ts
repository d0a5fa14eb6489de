/**
 * The local stack end to end, through its HTTP API: real bundles of both fixture models (with a
 * deterministic latency profile), real workers on onnxruntime, dynalite, the in-process queue or
 * BullMQ on the real Redis, and the controller publishing a config the workers then serve.
 */
import type { LocalStack } from '../../../cli/stack/local-stack';
import { startTestStack } from '../../support/local-stack';
import {
  directPredictions,
  servingInput,
  workerFixture,
  type WorkerFixture,
} from '../../worker/worker-fixtures';

jest.setTimeout(300_000);

async function postJson(
  url: string,
  body: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Polls a request until its final answer (or error) is known. */
async function finalOf(stack: LocalStack, requestId: string): Promise<Record<string, unknown>> {
  const giveUpAt = Date.now() + 60_000;
  for (;;) {
    const { body } = await getJson(`${stack.url}/v1/requests/${requestId}`);
    if (body['status'] === 'final' || body['status'] === 'error') return body;
    if (Date.now() > giveUpAt)
      throw new Error(`request ${requestId} has no final answer: ${JSON.stringify(body)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe.each([
  ['the in-process queue', undefined],
  ['BullMQ on Redis', 'redis://127.0.0.1:6379'],
])('the local stack with %s', (_name, redisUrl) => {
  let mnist: WorkerFixture;
  let spam: WorkerFixture;
  let stack: LocalStack;

  beforeAll(async () => {
    [mnist, spam] = [await workerFixture('mnist-resnet'), await workerFixture('spam-bert')];
    stack = await startTestStack('stack-test', {
      bundles: [
        { model: 'mnist-resnet', dir: mnist.bundle.dir, prepared: false },
        { model: 'spam-bert', dir: spam.bundle.dir, prepared: false },
      ],
      models: ['mnist-resnet', 'spam-bert'],
      ...(redisUrl === undefined ? {} : { redisUrl }),
      accuracyConstraint: 0.98,
    });
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('gives every worker’s local guard the constraint its controller tunes to', () => {
    for (const model of ['mnist-resnet', 'spam-bert']) {
      expect(stack.pool.workersOf(model)[0]?.accuracyConstraint).toBe(0.98);
    }
  });

  it('answers sync requests on both models with the plain model’s labels', async () => {
    for (const fixture of [mnist, spam]) {
      const model = fixture.bundle.manifest.model.name;
      const indices = [400, 401, 402];
      const expected = await directPredictions(fixture, indices);
      const classes = fixture.bundle.manifest.model.spec.classes;
      for (const [i, index] of indices.entries()) {
        const { status, body } = await postJson(`${stack.url}/v1/models/${model}/infer`, {
          inputs: servingInput(fixture, index),
        });
        expect(status).toBe(200);
        // Thresholds start at zero, so before the controller has tuned every answer is the final one.
        expect(body['exit']).toBe('final');
        expect(body['label']).toBe(classes[expected[i] as number]);
      }
    }
  });

  it('publishes a tuned config from the exit logs, which the workers then serve', async () => {
    const indices = Array.from({ length: 160 }, (_, i) => 500 + i);
    const expected = await directPredictions(mnist, indices);
    const accepted = await Promise.all(
      indices.map((index) =>
        postJson(`${stack.url}/v1/models/mnist-resnet/infer`, {
          inputs: servingInput(mnist, index),
          mode: 'async',
          // A burst of 160 on a busy 2-core machine can take longer than the default 5 s.
          deadlineMs: 60_000,
        }),
      ),
    );
    expect(accepted.every((a) => a.status === 202)).toBe(true);
    const finals = await Promise.all(accepted.map((a) => finalOf(stack, a.body['requestId'] as string)));
    // (every request answered: an error here names its code, such as deadline_exceeded)
    expect(finals.filter((f) => f['status'] !== 'final')).toEqual([]);
    const classes = mnist.bundle.manifest.model.spec.classes;
    expect(finals.map((f) => (f['final'] as { label: string }).label)).toEqual(
      expected.map((c) => classes[c]),
    );

    const worker = stack.pool.workersOf('mnist-resnet')[0];
    const before = worker?.config.version ?? -1;
    // The exit-log writer flushes in the background (every second), so the controller may run
    // before the last batches have landed; it publishes once it has read enough of them.
    let published = false;
    for (let attempt = 0; attempt < 20 && !published; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const reports = await stack.runControllers();
      published = reports.some((r) => r.model === 'mnist-resnet' && r.newVersion !== 'unchanged');
    }
    await worker?.checkConfigNow();

    const { body: config } = await getJson(`${stack.url}/v1/models/mnist-resnet/config`);
    expect(config['version']).toBeGreaterThan(before);
    expect(worker?.config.version).toBe(config['version']);
    const thresholds = (config['ramps'] as { threshold: number }[]).map((r) => r.threshold);
    expect(thresholds.some((t) => t > 0)).toBe(true);
  });
});
