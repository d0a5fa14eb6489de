/**
 * The local pool following published fleet plans under load (the acceptance test of running the
 * plan): real bundles of two digits variants, real workers on onnxruntime, dynalite for the plans,
 * the in-process queue or BullMQ on the real Redis. Requests name the task; each phase publishes a
 * plan that scales the pool up or down while the previous phase's requests are still being served.
 * Every request must be answered exactly once, none lost, and each phase's answers must come from
 * the variants in the plan's proportions.
 */
import type { LocalStack } from '../../../cli/stack/local-stack';
import type { FleetPlan, PlanGroup } from '../../../core/fleet/plan';
import { startTestStack } from '../../support/local-stack';
import { servingInput, workerFixture, type WorkerFixture } from '../../worker/worker-fixtures';

jest.setTimeout(300_000);

const MEDIUM = 'mnist-resnet-medium';
const SMALL = 'mnist-resnet-small';
const PER_PHASE = 60;

/** Workers and dispatch weight per variant, one phase each: up, across, one variant to zero, back. */
const PHASES: readonly (readonly [medium: [number, number], small: [number, number]])[] = [
  [
    [1, 0.7],
    [2, 0.3],
  ],
  [
    [3, 0.25],
    [1, 0.75],
  ],
  [
    [0, 0],
    [2, 1],
  ],
  [
    [2, 0.5],
    [1, 0.5],
  ],
];

function planOf(version: number, medium: [number, number], small: [number, number]): FleetPlan {
  const group = (variant: string, [workers, weight]: [number, number]): PlanGroup => ({
    variant,
    exits: 'off',
    workers,
    weight,
    loadRps: 100 * weight,
    capacityRps: 100 * workers,
  });
  return {
    task: 'digits',
    forecastRps: 100,
    plannedRps: 100,
    capacityRps: 100 * (medium[0] + small[0]),
    feasible: true,
    groups: [group(MEDIUM, medium), group(SMALL, small)],
    objective: {
      accuracy: 0.98,
      workers: medium[0] + small[0],
      loadingSeconds: 0,
      value: 0.9 + version / 100,
    },
  };
}

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

async function finalOf(stack: LocalStack, requestId: string): Promise<Record<string, unknown>> {
  const giveUpAt = Date.now() + 120_000;
  for (;;) {
    const response = await fetch(`${stack.url}/v1/requests/${requestId}`);
    const body = (await response.json()) as Record<string, unknown>;
    if (body['status'] === 'final' || body['status'] === 'error') return body;
    if (Date.now() > giveUpAt)
      throw new Error(`request ${requestId} has no final answer: ${JSON.stringify(body)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const giveUpAt = Date.now() + 60_000;
  while (!condition()) {
    if (Date.now() > giveUpAt) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe.each([
  ['the in-process queue', undefined],
  ['BullMQ on Redis', 'redis://127.0.0.1:6379'],
])('a local pool following fleet plans with %s', (_name, redisUrl) => {
  let medium: WorkerFixture;
  let small: WorkerFixture;
  let stack: LocalStack;

  beforeAll(async () => {
    [medium, small] = [await workerFixture(MEDIUM), await workerFixture(SMALL)];
    stack = await startTestStack('pool-test', {
      bundles: [
        { model: MEDIUM, dir: medium.bundle.dir, prepared: false },
        { model: SMALL, dir: small.bundle.dir, prepared: false },
      ],
      models: [MEDIUM, SMALL],
      ...(redisUrl === undefined ? {} : { redisUrl }),
      // The stack's own follower stays out of the way; the test follows each plan itself.
      configPollMs: 3_600_000,
      accuracyConstraint: 0.98,
    });
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('answers a request naming the task from one of its variants, saying which', async () => {
    expect(stack.tasks.get('digits')).toEqual([MEDIUM, SMALL]);
    const { status, body } = await postJson(`${stack.url}/v1/models/digits/infer`, {
      inputs: servingInput(small, 400),
    });
    expect(status).toBe(200);
    expect([MEDIUM, SMALL]).toContain(body['model']);

    const unknown = await postJson(`${stack.url}/v1/models/faces/infer`, {
      inputs: servingInput(small, 400),
    });
    expect(unknown.status).toBe(404);
    expect((unknown.body['error'] as { message: string }).message).toMatch(
      /served models: .*; tasks: digits/,
    );
    await until(() => stack.pool.served() >= 1, 'the answered request to be counted');
  });

  it("scales up and down under load, answering every request exactly once in the plan's mix", async () => {
    // Given the pool's start (one worker per variant) and what it has served so far
    const servedBefore = stack.pool.served();
    const phases: { requestIds: string[]; plan: FleetPlan }[] = [];
    let following: Promise<void> = Promise.resolve();

    for (const [k, [m, s]] of PHASES.entries()) {
      // When the plan of this phase is published and followed while the last phase's load is served
      const plan = planOf(k, m, s);
      await following;
      await stack.plans.publish('digits', { version: k, decidedAtMs: Date.now(), plan });
      following = stack.followPlans();
      await until(() => stack.dispatcher.planVersion('digits') === k, `plan ${k} to take the traffic`);
      // ...and this phase's requests arrive, naming the task, in bursts, while old workers drain
      const requestIds: string[] = [];
      for (let burst = 0; burst < PER_PHASE / 10; burst++) {
        const accepted = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            postJson(`${stack.url}/v1/models/digits/infer`, {
              inputs: servingInput(medium, 400 + k * PER_PHASE + burst * 10 + i),
              mode: 'async',
            }),
          ),
        );
        for (const a of accepted) {
          expect(a.status).toBe(202);
          requestIds.push(a.body['requestId'] as string);
        }
      }
      phases.push({ requestIds, plan });
    }
    await following;

    // Then every request has its final answer, none failed
    const finals = await Promise.all(
      phases.map((p) => Promise.all(p.requestIds.map((id) => finalOf(stack, id)))),
    );
    for (const phase of finals) for (const f of phase) expect(f['status']).toBe('final');

    // And each phase's answers came from the variants in its plan's proportions, within one request
    for (const [k, phase] of finals.entries()) {
      const plan = phases[k]?.plan as FleetPlan;
      for (const group of plan.groups) {
        const answered = phase.filter((f) => f['model'] === group.variant).length;
        expect(Math.abs(answered - PER_PHASE * group.weight)).toBeLessThanOrEqual(1);
      }
    }

    // And exactly once: the workers (stopped ones included) served each request once, none dead-lettered
    const total = PHASES.length * PER_PHASE;
    await until(() => stack.pool.served() - servedBefore >= total, 'the served counts to settle');
    expect(stack.pool.served() - servedBefore).toBe(total);
    expect(new Set(phases.flatMap((p) => p.requestIds)).size).toBe(total);

    // And the pool ends at the last plan's size, having started and drained workers on the way,
    // with a measured load time for each variant
    const [lastMedium, lastSmall] = PHASES[PHASES.length - 1] ?? [];
    expect(stack.pool.sizes()).toEqual(
      new Map([
        [MEDIUM, lastMedium?.[0]],
        [SMALL, lastSmall?.[0]],
      ]),
    );
    const events = stack.pool.events();
    expect(events.filter((e) => e.kind === 'stopped').map((e) => e.variant)).toEqual(
      expect.arrayContaining([MEDIUM, SMALL]),
    );
    expect(events.some((e) => e.kind === 'stopped' && e.variant === MEDIUM && e.workers === 0)).toBe(true);
    for (const variant of [MEDIUM, SMALL]) {
      const loads = stack.pool.loadTimes().get(variant) ?? [];
      expect(loads.length).toBeGreaterThan(1);
      expect(loads.every((ms) => ms > 0)).toBe(true);
    }
  });
});
