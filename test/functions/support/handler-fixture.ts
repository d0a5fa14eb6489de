/**
 * What the handler tests share: dynalite with fresh tables, the in-process queue, a catalog over a
 * real fixture bundle, and a stand-in for the worker that takes one queued request and records the
 * answer a test chooses, through the real result store, so a test decides what the worker says.
 */
import { ConfigStore } from '../../../adapters/dynamo/config-store';
import {
  ResultStore,
  type StoredEarlyAnswer,
  type StoredFinalAnswer,
} from '../../../adapters/dynamo/result-store';
import type { AnswerChannel } from '../../../adapters/answers/answer-channel';
import type { AnswerError } from '../../../core/serving/answers';
import { MemoryRequestQueue } from '../../../adapters/queue/memory-queue';
import type { InferenceRequest } from '../../../adapters/queue/request-queue';
import { localBundleCatalog, type BundleCatalog } from '../../../functions/catalog/bundle-catalog';
import { startLocalDynamo, useLocalDynamo, type LocalDynamo } from '../../adapters/dynamo/local-dynamo';
import type { TableNames } from '../../../adapters/dynamo/tables';
import { workerFixture, type WorkerFixture } from '../../worker/worker-fixtures';

export interface HandlerFixture {
  readonly dynamo: LocalDynamo;
  readonly mnist: WorkerFixture;
  readonly catalog: BundleCatalog;
}

export async function startHandlerFixture(): Promise<HandlerFixture> {
  const mnist = await workerFixture('mnist-resnet');
  const dynamo = await startLocalDynamo();
  return { dynamo, mnist, catalog: localBundleCatalog({ 'mnist-resnet': mnist.bundle.dir }) };
}

export interface Stores {
  readonly results: ResultStore;
  readonly configs: ConfigStore;
  readonly queue: MemoryRequestQueue;
}

/** Fresh tables and a fresh queue, so no test sees another's requests. */
export async function freshStores(dynamo: LocalDynamo): Promise<Stores> {
  return storesOn(dynamo, await dynamo.freshTables());
}

/** The stores over `tables`, and a fresh queue. */
function storesOn(dynamo: LocalDynamo, tables: TableNames): Stores {
  return {
    results: new ResultStore({ client: dynamo.doc, tableName: tables.results }),
    configs: new ConfigStore({ client: dynamo.doc, tableName: tables.configs }),
    queue: new MemoryRequestQueue(),
  };
}

/** What `useHandlerFixture` hands a test: read its fields inside tests and hooks, never at load. */
export interface HandlerTestSetup {
  readonly fixture: HandlerFixture;
  readonly stores: Stores;
}

/**
 * The lifecycle most handler test files share, registered in one call: dynalite (`useLocalDynamo`)
 * and the fixture bundle once per file, and per test fresh tables, the stores over them and a
 * fresh queue, closed after it.
 */
export function useHandlerFixture(): HandlerTestSetup {
  const dynamo = useLocalDynamo();
  let fixture: HandlerFixture | undefined;
  let stores: Stores | undefined;
  beforeAll(async () => {
    const mnist = await workerFixture('mnist-resnet');
    fixture = {
      dynamo: dynamo.local,
      mnist,
      catalog: localBundleCatalog({ 'mnist-resnet': mnist.bundle.dir }),
    };
  });
  beforeEach(() => {
    stores = storesOn(dynamo.local, dynamo.tables);
  });
  afterEach(async () => {
    await stores?.queue.close();
  });
  return {
    get fixture() {
      if (fixture === undefined) throw new Error('the handler fixture is read before beforeAll ran');
      return fixture;
    },
    get stores() {
      if (stores === undefined) throw new Error('the stores are read outside a test');
      return stores;
    },
  };
}

export type StubAnswer =
  | { readonly early?: StoredEarlyAnswer; readonly final?: StoredFinalAnswer }
  | { readonly error: AnswerError };

/**
 * Takes the next queued request (waiting up to `waitMs`), records `answer(request)` for it and
 * acknowledges it; returns the request, or undefined when none came.
 */
export async function answerNext(
  stores: Stores,
  answer: (request: InferenceRequest) => StubAnswer,
  waitMs = 5000,
): Promise<InferenceRequest | undefined> {
  const [message] = await stores.queue.receive(1, waitMs);
  if (message === undefined) return undefined;
  const { request } = message;
  const chosen = answer(request);
  if ('error' in chosen) {
    await stores.results.putError(request.requestId, chosen.error);
  } else {
    if (chosen.early !== undefined) await stores.results.putEarly(request.requestId, chosen.early);
    if (chosen.final !== undefined) await stores.results.putFinal(request.requestId, chosen.final);
  }
  await stores.queue.ack(message);
  return request;
}

/** A blank image of the model's size: valid input, whatever the model makes of it. */
export function blankImage(fixture: WorkerFixture): number[] {
  const pre = fixture.bundle.manifest.model.spec.preprocessing;
  if (pre.type !== 'image') throw new Error('not an image model');
  return new Array<number>(pre.height * pre.width * pre.channels).fill(0);
}

/**
 * A worker stand-in that answers through the answer channel: takes up to `count` queued requests
 * one by one (waiting up to `waitMs` for each), publishes a final answer for each and
 * acknowledges it; returns the ids it answered, in order.
 */
export async function answerThroughChannel(
  stores: Stores,
  answers: Pick<AnswerChannel, 'publish'>,
  model: string,
  count: number,
  waitMs = 2000,
): Promise<string[]> {
  const received: string[] = [];
  for (let i = 0; i < count; i++) {
    const [message] = await stores.queue.receive(1, waitMs);
    if (message === undefined) break;
    const { requestId } = message.request;
    received.push(requestId);
    await answers.publish({
      kind: 'final',
      requestId,
      model,
      label: '1',
      confidence: 0.9,
      latencyMs: 2,
      configVersion: 0,
      releasedAtMs: Date.now(),
    });
    await stores.queue.ack(message);
  }
  return received;
}
