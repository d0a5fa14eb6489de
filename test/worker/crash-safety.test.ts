import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { ResultStore } from '../../adapters/dynamo/result-store';
import { BullMqRequestQueue } from '../../adapters/redis/bullmq-queue';
import { useLocalDynamo } from '../adapters/dynamo/local-dynamo';
import { servingRequest, workerFixture, type WorkerFixture } from './worker-fixtures';

const ROOT = resolve(__dirname, '..', '..');
const SCRIPT = join(__dirname, 'fixtures', 'crash-worker.ts');
const VISIBILITY_MS = 2000;

/** Starts a worker process; `lines` collects its structured log lines. */
function startWorker(args: string[]): {
  child: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
} {
  const child = spawn(process.execPath, ['-r', 'tsx/cjs', SCRIPT, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const lines: string[] = [];
  let partial = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString('utf8');
    const parts = text.split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  return { child, lines, exited };
}

async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 25));
  }
}

describe('a worker killed in the middle of a batch (BullMQ on real Redis)', () => {
  const dynamo = useLocalDynamo();
  let fixture: WorkerFixture;

  beforeAll(async () => {
    fixture = await workerFixture('mnist-resnet');
  });

  it('loses nothing: after a second worker starts, every request has exactly one final result', async () => {
    // Given 64 requests on a fresh BullMQ queue and a results table in dynalite
    const { tables } = dynamo;
    const store = new ResultStore({ client: dynamo.local.doc, tableName: tables.results });
    const queueName = `worker-crash-${process.pid}-${Date.now()}`;
    const producer = new BullMqRequestQueue({ name: queueName, visibilityTimeoutMs: VISIBILITY_MS });
    const ids = Array.from({ length: 64 }, (_, i) => `crash-${i}`);
    for (const [i, id] of ids.entries()) await producer.send(servingRequest(fixture, i, { requestId: id }));
    const endpoint = await dynamo.local.client.config.endpoint?.();
    const url = `${endpoint?.protocol}//${endpoint?.hostname}:${endpoint?.port}`;
    const args = (slowFinalMs: number): string[] => [
      fixture.bundle.dir,
      queueName,
      url,
      tables.results,
      String(slowFinalMs),
      String(VISIBILITY_MS),
    ];
    const finals = async (): Promise<string[]> => {
      const records = await Promise.all(ids.map((id) => store.get(id)));
      return records.filter((r) => r?.final !== undefined).map((r) => r?.requestId ?? '');
    };

    // When the first worker is killed with SIGKILL while its first batch's answers are being stored
    const first = startWorker(args(400));
    await until('the first batch to start', () => first.lines.some((l) => l.includes('"batch started"')));
    await new Promise((done) => setTimeout(done, 150));
    first.child.kill('SIGKILL');
    expect(await first.exited).toBeNull();
    const answeredBeforeRestart = await finals();
    expect(answeredBeforeRestart.length).toBeLessThan(ids.length);

    // And a second worker is started on the same queue
    const second = startWorker(args(0));
    await until('every request to have a final result', async () => (await finals()).length === ids.length);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);

    // Then every request has exactly one final result, none failed, and nothing is left or dead-lettered
    const records = await Promise.all(ids.map((id) => store.get(id)));
    for (const record of records) {
      expect(record?.status).toBe('final');
      expect(record?.error).toBeUndefined();
    }
    expect(await producer.deadLettered()).toEqual([]);
    expect(second.lines.some((l) => l.includes('"worker stopped"'))).toBe(true);
    await producer.close();
  }, 90_000);
});
