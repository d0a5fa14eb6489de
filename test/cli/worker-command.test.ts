import { RedisAnswerChannel } from '../../adapters/answers';
import { BullMqRequestQueue } from '../../adapters/redis/bullmq-queue';
import { METRIC_DIMENSION_MODEL, METRICS } from '../../core/deployment/cloud-names';
import { defaultThreadLayout } from '../../core/inference/thread-layout';
import { RedisResultStore } from '../../adapters/redis/redis-result-store';
import { bullmqWorkerArgs, freshQueueName } from '../support/bullmq-worker';
import { runCli } from '../support/run-cli';
import { startWorkerProcess, until } from '../worker/worker-process';
import { servingRequest, workerFixture, type WorkerFixture } from '../worker/worker-fixtures';

/** The metric families the issue asks `/metrics` to expose. */
const FAMILIES = [
  'apparate_worker_requests_total',
  'apparate_worker_exits_total',
  'apparate_worker_early_release_ms',
  'apparate_worker_final_ms',
  'apparate_worker_queue_wait_ms',
  'apparate_worker_batch_size',
  'apparate_worker_window_agreement',
  'apparate_worker_config_version',
  'apparate_worker_exit_log_dropped_total',
];

/** One sample's value from Prometheus text, 0 when absent. */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

describe('apparate worker as a process', () => {
  let fixture: WorkerFixture;

  beforeAll(async () => {
    fixture = await workerFixture('mnist-resnet');
  }, 300_000);

  it('serves /healthz and /metrics whose families move with requests, writes EMF lines, and stops on SIGTERM', async () => {
    // Given a worker on a fresh BullMQ queue with metrics on a free port and EMF every second
    const name = freshQueueName('cli-worker');
    const worker = startWorkerProcess(
      bullmqWorkerArgs(
        fixture.bundle.dir,
        name,
        '--metrics-port',
        '0',
        '--emf',
        '--emf-period-ms',
        '1000',
        '--accuracy-constraint',
        '0.95',
        '--answers-namespace',
        name,
      ),
    );
    const { port } = await worker.logLine('metrics listening');
    // And its local guard holds the constraint it was given, not the default
    const started = await worker.logLine('worker started');
    expect(started['accuracyConstraint']).toBe(0.95);
    expect(started['inferenceThreads']).toBe(defaultThreadLayout('cpu').inferenceThreads);
    // And its sessions share the process's one CPU arena (registered through onnxruntime's C API)
    expect(started['sharedArena']).toBe(true);
    expect(started['sharedArenaUnavailable']).toBeUndefined();
    // ... and keep onnxruntime's memory pattern, since no APPARATE_MEMORY_PATTERN=off was given
    expect(started['memoryPattern']).toBe(true);
    expect(typeof port).toBe('number');
    const base = `http://127.0.0.1:${String(port)}`;
    const before = await (await fetch(`${base}/metrics`)).text();
    const health = await fetch(`${base}/healthz`);

    // When 24 requests are served (answers land in Redis beside the queue)
    const producer = new BullMqRequestQueue({ name });
    const store = new RedisResultStore({ namespace: name });
    const ids = Array.from({ length: 24 }, (_, i) => `cli-${i}`);
    // ... while an API process would wait for them on the answer channel
    const channel = new RedisAnswerChannel({ namespace: name });
    const pushed = new Set<string>();
    for (const id of ids) {
      await channel.subscribe(id, (event) => {
        if (event.kind === 'final') pushed.add(event.requestId);
      });
    }
    for (const [i, id] of ids.entries()) await producer.send(servingRequest(fixture, i, { requestId: id }));
    await until('every answer in Redis', async () =>
      (await Promise.all(ids.map((id) => store.get(id)))).every((r) => r?.status === 'final'),
    );
    // Then every final answer was also pushed to the waiting side
    await until('every answer pushed', () => pushed.size === ids.length);
    await channel.close();
    const after = await (await fetch(`${base}/metrics`)).text();
    await until('an EMF line counting served requests', () =>
      worker.stdout.some(
        (line) =>
          line.includes(`"${METRICS.requestsServed}":`) && !line.includes(`"${METRICS.requestsServed}":0`),
      ),
    );

    // Then /healthz is ok and every family is exposed, before and after
    expect(health.status).toBe(200);
    expect(await health.text()).toBe('ok\n');
    for (const family of FAMILIES) {
      expect(before).toContain(`# TYPE ${family} `);
      expect(after).toContain(`# TYPE ${family} `);
    }
    expect(await (await fetch(`${base}/nowhere`)).text()).toMatch(/try \/metrics or \/healthz/);
    // And the counters and histograms moved by the 24 requests
    expect(sample(before, 'apparate_worker_requests_total{outcome="served"}')).toBe(0);
    expect(sample(after, 'apparate_worker_requests_total{outcome="served"}')).toBe(24);
    expect(sample(after, 'apparate_worker_final_ms_count')).toBe(24);
    expect(sample(after, 'apparate_worker_queue_wait_ms_count')).toBe(24);
    expect(sample(after, 'apparate_worker_batch_size_sum')).toBe(24);
    expect(sample(after, 'apparate_worker_exits_total{exit="final"}')).toBeGreaterThan(0);
    expect(after).toMatch(/^apparate_worker_window_agreement \d/m);
    expect(sample(after, 'apparate_worker_config_version')).toBe(0);
    // And the EMF lines name the model and beat
    const emf = worker.stdout
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((l) => '_aws' in l);
    expect(emf.length).toBeGreaterThan(0);
    expect(emf.every((l) => l[METRIC_DIMENSION_MODEL] === fixture.bundle.manifest.model.name)).toBe(true);
    expect(emf.every((l) => l[METRICS.heartbeat] === 1)).toBe(true);

    // When it is sent SIGTERM
    worker.child.kill('SIGTERM');

    // Then it stops gracefully and exits 0
    expect(await worker.exited).toBe(0);
    expect(worker.stderr.some((line) => line.includes('"worker stopped"'))).toBe(true);
    expect(await producer.deadLettered()).toEqual([]);
    await producer.close();
    await store.close();
  }, 120_000);

  it.each([
    [['--queue', 'memory'], /give exactly one of --bundle <dir> \(serve a bundle\) or --model <dir>/],
    [['--bundle', 'b', '--queue', 'kafka'], /--queue must be one of memory, bullmq, sqs, got kafka/],
    [
      ['--bundle', 'b', '--queue', 'memory', '--metrics-port', '70000'],
      /--metrics-port must be an integer in \[0, 65535\], got 70000/,
    ],
    [['--bundle', 'b', '--queue', 'memory', '--results', 'redis'], /--results redis needs --queue bullmq/],
    [
      ['--bundle', 'b', '--queue', 'memory', '--answers-namespace', 'x'],
      /--answers-namespace .* needs --queue bullmq/,
    ],
    [
      ['--bundle', 'b', '--queue', 'bullmq', '--answers-namespace', 'a:b'],
      /--answers-namespace must be a name without ':' or spaces, or none; got "a:b"/,
    ],
    [['--bundle', 'b', '--queue', 'memory', '--results', 'table'], /--results table needs --table-prefix/],
    [['--bundle', 'b', '--queue', 'memory', '--emf-period-ms', '5000'], /--emf-period-ms goes with --emf/],
    [
      ['--bundle', 'b', '--queue', 'memory', '--emf', '--emf-period-ms', '5'],
      /--emf-period-ms must be an integer in \[1000, inf\), got 5/,
    ],
    [
      ['--bundle', 'b', '--queue', 'memory', '--inference-threads', '0'],
      /--inference-threads must be an integer in \[1, 64\], got 0/,
    ],
    [
      ['--bundle', 'b', '--queue', 'memory', '--intra-op-threads', '1.5'],
      /--intra-op-threads must be an integer in \[0, 64\], got 1.5/,
    ],
    [['--model', 'zoo/models/mnist-resnet', '--queue', 'memory'], /--bundle-out <dir> is required/],
    [
      ['--bundle', 'b', '--queue', 'memory', '--bootstrap-samples', '50'],
      /--bundle-out and --bootstrap-samples go with --model/,
    ],
    [
      [
        '--model',
        'zoo/models/mnist-resnet',
        '--bundle-out',
        'x',
        '--queue',
        'memory',
        '--bootstrap-samples',
        '5',
      ],
      /--bootstrap-samples must be an integer in \[20, inf\), got 5/,
    ],
    [
      ['--bundle', 'b', '--queue', 'memory', '--accuracy-constraint', '1.5'],
      /--accuracy-constraint must be a number in \(0.5, 1\], got 1.5/,
    ],
    [['--bundle', '/no/such/bundle', '--queue', 'memory'], /no\/such\/bundle/],
  ])('worker %j exits 2 with one line saying what was wrong', async (args, message) => {
    const result = await runCli(['worker', ...args]);
    expect(result.stderr).toMatch(message);
    expect(result.code).toBe(2);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  });
});
