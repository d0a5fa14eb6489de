import { PassThrough } from 'node:stream';
import Ajv from 'ajv';
import { METRIC_DIMENSION_MODEL, METRIC_NAMESPACE, METRICS } from '../../core/deployment/cloud-names';
import { EmfEmitter } from '../../gpu-worker/emf-emitter';
import { WorkerMetrics } from '../../gpu-worker/metrics';

/**
 * The embedded metric format's structure as AWS documents it: a root `_aws` member with an integer
 * Timestamp and a CloudWatchMetrics array of metric directives (Namespace, Dimensions as arrays of
 * dimension-set names, Metrics with Name and an optional Unit from CloudWatch's unit list).
 */
const EMF_SCHEMA = {
  type: 'object',
  required: ['_aws'],
  properties: {
    _aws: {
      type: 'object',
      required: ['Timestamp', 'CloudWatchMetrics'],
      properties: {
        Timestamp: { type: 'integer', minimum: 0 },
        CloudWatchMetrics: {
          type: 'array',
          items: {
            type: 'object',
            required: ['Namespace', 'Dimensions', 'Metrics'],
            properties: {
              Namespace: { type: 'string', minLength: 1, maxLength: 1024 },
              Dimensions: {
                type: 'array',
                items: {
                  type: 'array',
                  items: { type: 'string', minLength: 1, maxLength: 250 },
                  maxItems: 30,
                },
              },
              Metrics: {
                type: 'array',
                maxItems: 100,
                items: {
                  type: 'object',
                  required: ['Name'],
                  properties: {
                    Name: { type: 'string', minLength: 1, maxLength: 1024 },
                    Unit: {
                      enum: [
                        'Seconds',
                        'Microseconds',
                        'Milliseconds',
                        'Bytes',
                        'Kilobytes',
                        'Megabytes',
                        'Gigabytes',
                        'Terabytes',
                        'Bits',
                        'Kilobits',
                        'Megabits',
                        'Gigabits',
                        'Terabits',
                        'Percent',
                        'Count',
                        'Bytes/Second',
                        'Kilobytes/Second',
                        'Megabytes/Second',
                        'Gigabytes/Second',
                        'Terabytes/Second',
                        'Bits/Second',
                        'Kilobits/Second',
                        'Megabits/Second',
                        'Gigabits/Second',
                        'Terabits/Second',
                        'Count/Second',
                        'None',
                      ],
                    },
                    StorageResolution: { enum: [1, 60] },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
} as const;

type Directive = { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] };

/** Checks the rules the JSON schema cannot: every named dimension and metric is a root member. */
function checkReferences(line: Record<string, unknown>): void {
  const directives = (line['_aws'] as { CloudWatchMetrics: Directive[] }).CloudWatchMetrics;
  for (const directive of directives) {
    for (const name of directive.Dimensions.flat()) expect(typeof line[name]).toBe('string');
    for (const metric of directive.Metrics) expect(typeof line[metric.Name]).toBe('number');
  }
}

function capture(): { stream: PassThrough; lines: () => Record<string, unknown>[] } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  return {
    stream,
    lines: () =>
      text
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

describe('the CloudWatch embedded-metric-format emitter', () => {
  const validate = new Ajv({ strict: true }).compile(EMF_SCHEMA);

  it('writes one line per emission that follows the EMF specification, with the names the alarms read', async () => {
    // Given an emitter, then a period with 10 served requests, 6 early, 1 past its deadline
    const metrics = new WorkerMetrics();
    const { stream, lines } = capture();
    const emitter = await EmfEmitter.create({
      metrics,
      model: 'mnist-resnet',
      workerId: 'w1',
      stream,
      nowMs: () => 1.7e12,
    });
    metrics.requests.inc({ outcome: 'served' }, 10);
    metrics.requests.inc({ outcome: 'deadline_exceeded' });
    metrics.exits.inc({ exit: 'c1' }, 4);
    metrics.exits.inc({ exit: 'c3' }, 2);
    metrics.exits.inc({ exit: 'final' }, 4);
    metrics.windowAgreement.set(0.995);
    metrics.configVersion.set(7);
    metrics.droppedLogItems.set(2);
    for (let i = 1; i <= 5; i++) metrics.period.observe(i, 10 * i);

    // When it emits
    await emitter.emit();

    // Then the line is valid EMF in the Apparate namespace with the Model dimension
    const [line] = lines();
    if (line === undefined) throw new Error('no line written');
    expect(validate(line)).toBe(true);
    expect(validate.errors ?? []).toEqual([]);
    checkReferences(line);
    const directive = (line['_aws'] as { Timestamp: number; CloudWatchMetrics: Directive[] })
      .CloudWatchMetrics[0];
    expect(directive?.Namespace).toBe(METRIC_NAMESPACE);
    expect(directive?.Dimensions).toEqual([[METRIC_DIMENSION_MODEL]]);
    expect(line[METRIC_DIMENSION_MODEL]).toBe('mnist-resnet');
    // And it carries every metric the alarms read, with the period's values
    expect(directive?.Metrics.map((m) => m.Name).sort()).toEqual(Object.values(METRICS).sort());
    expect(line).toMatchObject({
      [METRICS.heartbeat]: 1,
      [METRICS.requestsServed]: 10,
      [METRICS.earlyExits]: 6,
      [METRICS.deadlineExceeded]: 1,
      [METRICS.droppedLogItems]: 2,
      [METRICS.windowAgreement]: 0.995,
      [METRICS.configVersion]: 7,
      [METRICS.servedLatencyP50Ms]: 3,
      [METRICS.finalLatencyP50Ms]: 30,
      workerId: 'w1',
    });
    expect((line['_aws'] as { Timestamp: number }).Timestamp).toBe(1.7e12);
  });

  it('counts per period, and leaves out the medians and agreement it has no value for', async () => {
    // Given an emitter that has already emitted once after 10 served requests
    const metrics = new WorkerMetrics();
    metrics.requests.inc({ outcome: 'served' }, 10);
    const { stream, lines } = capture();
    const emitter = await EmfEmitter.create({ metrics, model: 'm', stream });
    await emitter.emit();

    // When 3 more are served without latencies recorded, and it emits again
    metrics.requests.inc({ outcome: 'served' }, 3);
    await emitter.emit();

    // Then the second line counts only the 3, still beats, and names only the metrics it carries
    const second = lines()[1];
    if (second === undefined) throw new Error('no second line');
    expect(validate(second)).toBe(true);
    checkReferences(second);
    expect(second[METRICS.requestsServed]).toBe(3);
    expect(second[METRICS.heartbeat]).toBe(1);
    expect(second).not.toHaveProperty(METRICS.servedLatencyP50Ms);
    expect(second).not.toHaveProperty(METRICS.windowAgreement);
  });

  it('emits on its period, and a last line when stopped', async () => {
    // Given an emitter with a one-second period
    const { stream, lines } = capture();
    const emitter = await EmfEmitter.create({
      metrics: new WorkerMetrics(),
      model: 'm',
      stream,
      periodMs: 1000,
    });

    // When it runs for a little over one period and is stopped
    emitter.start();
    await new Promise((done) => setTimeout(done, 1200));
    await emitter.stop();

    // Then there are two heartbeats: the period's and the stop's
    expect(lines().map((line) => line[METRICS.heartbeat])).toEqual([1, 1]);
    await expect(
      EmfEmitter.create({ metrics: new WorkerMetrics(), model: 'm', periodMs: 10 }),
    ).rejects.toThrow(/at least 1000/);
  });
});
