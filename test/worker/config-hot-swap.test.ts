import { ConfigStore } from '../../adapters/dynamo/config-store';
import { MemoryRequestQueue } from '../../adapters/queue/memory-queue';
import { ApparateWorker } from '../../gpu-worker/worker';
import { useLocalDynamo } from '../adapters/dynamo/local-dynamo';
import {
  memoryLogger,
  recordingSink,
  servingRequest,
  workerFixture,
  type WorkerFixture,
} from './worker-fixtures';

describe('hot-swapping the config of a serving worker', () => {
  const dynamo = useLocalDynamo();
  let fixture: WorkerFixture;

  beforeAll(async () => {
    fixture = await workerFixture('mnist-resnet');
  });

  it('picks up a newer config under load, refuses an invalid one, and answers every request once', async () => {
    // Given a worker polling the config table while requests keep arriving
    const { tables } = dynamo;
    const store = new ConfigStore({ client: dynamo.local.doc, tableName: tables.configs });
    const model = fixture.bundle.manifest.model.name;
    const queue = new MemoryRequestQueue();
    const { sink, events, settled } = recordingSink();
    const { logger, lines } = memoryLogger();
    const worker = await ApparateWorker.start({
      bundleDir: fixture.bundle.dir,
      queue,
      sink,
      logger,
      configStore: store,
      configPollMs: 30,
    });
    let sent = 0;
    let sendAfterSwap = Infinity;
    const sending = (async () => {
      // A steady stream that goes on until well after the swap.
      while (sendAfterSwap > 0) {
        await queue.send(servingRequest(fixture, sent++));
        if (worker.config.version >= 1) sendAfterSwap = Math.min(sendAfterSwap, 150) - 1;
        if (sent % 10 === 0) await new Promise((done) => setTimeout(done, 5));
      }
    })();

    // When a newer config is published mid-stream, then an invalid one
    await settled(50);
    const ids = fixture.bundle.manifest.initialConfig.ramps.map((ramp) => ramp.id);
    await store.publish(model, { version: 1, ramps: ids.map((id) => ({ id, threshold: 0.3 })) });
    const until = Date.now() + 20_000;
    while (worker.config.version < 1 && Date.now() < until) await new Promise((done) => setTimeout(done, 20));
    await store.publish(model, { version: 2, ramps: [{ id: 'c42', threshold: 0.1 }] });
    await sending;
    const total = sent;
    await settled(total);
    await worker.checkConfigNow();
    await worker.stop();

    // Then the newer config serves, the invalid one was refused and logged, and the old one kept serving
    expect(worker.config.version).toBe(1);
    expect(lines.filter((l) => l.message === 'config applied').map((l) => l.fields['version'])).toEqual([1]);
    expect(lines.find((l) => l.message === 'config refused')?.fields['error']).toMatch(
      /unknown candidate c42/,
    );
    // And every request has exactly one final answer, with versions that only increase in the
    // order the requests were sent: a batch runs on the config current when it was submitted. (Not
    // in the order answers were released: with two lanes, a batch on the old config can finish after
    // the other lane's first batch on the new one.)
    const finals = events.filter((e) => e.kind === 'final');
    expect(finals).toHaveLength(total);
    expect(new Set(finals.map((e) => e.requestId)).size).toBe(total);
    const sentIndex = (requestId: string): number => Number(requestId.replace('req-', ''));
    const versions = finals
      .map((e) => ({
        index: sentIndex(e.requestId),
        version: e.kind === 'final' ? e.answer.configVersion : -1,
      }))
      .sort((a, b) => a.index - b.index)
      .map((answer) => answer.version);
    expect(versions).toContain(0);
    expect(versions).toContain(1);
    expect(versions.lastIndexOf(0)).toBeLessThan(versions.indexOf(1));
    await queue.close();
  });
});
