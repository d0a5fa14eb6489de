/**
 * The local API server's `/metrics`: a running server in front of the real ingest and result
 * handlers (dynalite, the in-process queue, admission control, write-behind), scraped over HTTP
 * and read with a strict parser of the exposition format.
 */
import { MemoryAnswerChannel } from '../../../adapters/answers/memory-answer-channel';
import { ResultStore } from '../../../adapters/dynamo/result-store';
import { AdmissionControl } from '../../../functions/api/admission';
import { createIngestHandler } from '../../../functions/api/ingest-handler';
import { createResultHandler } from '../../../functions/api/result-handler';
import { WriteBehind } from '../../../functions/api/write-behind';
import { ApiMetrics } from '../../../functions/local/api-metrics';
import { startApiServer, type ApiServer } from '../../../functions/local/api-server';
import { parseExposition, sampleValue } from '../../support/prometheus-text';
import {
  answerThroughChannel,
  blankImage,
  freshStores,
  startHandlerFixture,
  type HandlerFixture,
  type Stores,
} from '../support/handler-fixture';

const MODEL = 'mnist-resnet';
const INFER = '/v1/models/{model}/infer';

let fixture: HandlerFixture;
let stores: Stores;
let server: ApiServer;
let admission: AdmissionControl;
let writeBehind: WriteBehind;
const answers = new MemoryAnswerChannel();

beforeAll(async () => {
  fixture = await startHandlerFixture();
  stores = await freshStores(fixture.dynamo);
  // A model served at 2 req/s: of a burst with 2.5 s deadlines, five fit (with room for a slow machine).
  admission = new AdmissionControl({ serviceRatePerSec: () => 2 });
  writeBehind = new WriteBehind({ retryPauseMs: 1, onFailure: () => undefined });
  const ingest = createIngestHandler({
    writeBehind,
    catalog: fixture.catalog,
    queueFor: (model) => (model === MODEL ? stores.queue : undefined),
    results: stores.results,
    answers,
    admission,
  });
  server = await startApiServer({
    port: 0,
    ingest,
    result: createResultHandler({
      catalog: fixture.catalog,
      results: stores.results,
      configs: stores.configs,
    }),
    metrics: new ApiMetrics({ admission, writeBehind }),
  });
}, 300_000);

afterAll(async () => {
  await server.close();
  await stores.queue.close();
  await fixture.dynamo.close();
});

async function scrape(): Promise<{ response: Response; text: string }> {
  const response = await fetch(`${server.url}/metrics`);
  return { response, text: await response.text() };
}

describe('GET /metrics on the local API server', () => {
  it('counts responses by route template, method and status, and the front door’s 429s and write retries', async () => {
    // Given a scrape before any traffic: every family declared, the totals at 0
    const before = parseExposition((await scrape()).text);
    expect(before.get('apparate_api_requests_total')?.type).toBe('counter');
    expect(sampleValue(before, 'apparate_api_admission_refused_total', { mode: 'sync' })).toBe(0);
    expect(sampleValue(before, 'apparate_api_admission_refused_total', { mode: 'async' })).toBe(0);

    // When a burst of 12 sync requests meets a worker stand-in that answers five through the channel
    const body = JSON.stringify({ inputs: blankImage(fixture.mnist), deadlineMs: 2500 });
    const burst = Array.from({ length: 12 }, () =>
      fetch(`${server.url}/v1/models/${MODEL}/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      }).then(async (r) => {
        await r.arrayBuffer();
        return r.status;
      }),
    );
    // (the stand-in starts once every request of the burst was admitted or refused, so that no
    // answer frees a place for a later request of the same burst)
    while (admission.counts.admitted + admission.counts.refused < 12) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const served = await answerThroughChannel(stores, answers, MODEL, 5, 5000);
    const statuses = await Promise.all(burst);
    // ... a GET of one request, one of an unknown route, and a durable write to a table that does not exist
    const got = await fetch(`${server.url}/v1/requests/${served[0] ?? 'none'}`);
    await got.arrayBuffer();
    await (await fetch(`${server.url}/nowhere`)).arrayBuffer();
    const missing = new ResultStore({ client: fixture.dynamo.doc, tableName: 'apparate-test-missing-table' });
    await writeBehind.run('probe not written', {}, () =>
      missing.putAccepted('probe', { model: MODEL, deadlineAtMs: Date.now() }),
    );
    await writeBehind.drain();

    // Then the scrape is valid exposition text in Prometheus' content type
    const { response, text } = await scrape();
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const after = parseExposition(text);
    // ... whose request counts are those the clients saw, by route template (not the raw path)
    expect([...statuses].sort()).toEqual([...Array<number>(5).fill(200), ...Array<number>(7).fill(429)]);
    expect(
      sampleValue(after, 'apparate_api_requests_total', { route: INFER, method: 'POST', status: '200' }),
    ).toBe(5);
    expect(
      sampleValue(after, 'apparate_api_requests_total', { route: INFER, method: 'POST', status: '429' }),
    ).toBe(7);
    expect(
      sampleValue(after, 'apparate_api_requests_total', {
        route: '/v1/requests/{id}',
        method: 'GET',
        status: String(got.status),
      }),
    ).toBe(1);
    expect(
      sampleValue(after, 'apparate_api_requests_total', { route: 'unmatched', method: 'GET', status: '404' }),
    ).toBe(1);
    // ... and the front door's totals: 5 admitted, 7 refused, and the failing write retried, then given up on
    expect(sampleValue(after, 'apparate_api_admitted_total', { mode: 'sync' })).toBe(
      admission.counts.admitted,
    );
    expect(sampleValue(after, 'apparate_api_admitted_total', { mode: 'sync' })).toBe(5);
    expect(sampleValue(after, 'apparate_api_admission_refused_total', { mode: 'sync' })).toBe(7);
    expect(sampleValue(after, 'apparate_api_admission_refused_total', { mode: 'async' })).toBe(0);
    expect(sampleValue(after, 'apparate_api_write_behind_started_total')).toBe(writeBehind.counts.started);
    expect(sampleValue(after, 'apparate_api_write_behind_retries_total')).toBe(2);
    expect(sampleValue(after, 'apparate_api_write_behind_failures_total')).toBe(1);
    // ... and the earlier scrape itself was counted
    expect(
      sampleValue(after, 'apparate_api_requests_total', { route: '/metrics', method: 'GET', status: '200' }),
    ).toBe(1);
  }, 120_000);

  it('is an unknown route on a server that keeps no metrics', async () => {
    const bare = await startApiServer({
      port: 0,
      ingest: () => Promise.reject(new Error('unused')),
      result: () => Promise.reject(new Error('unused')),
    });
    try {
      const response = await fetch(`${bare.url}/metrics`);
      expect(response.status).toBe(404);
      expect(await response.json()).toEqual({
        error: { code: 'not_found', message: 'no route /metrics; see /openapi.json for the API' },
      });
    } finally {
      await bare.close();
    }
  });
});
