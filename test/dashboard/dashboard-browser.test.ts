/**
 * The dashboard in a real browser against a running local stack: real workers on onnxruntime with
 * both fixture models, dynalite, the in-process queue, configs published through the stack's own
 * tables. Headless Chromium (Debian's, which `.ci/run` installs) opens `/dashboard`; the numbers it
 * shows must match `/v1/dashboard`, whose agreement must match the answers clients received and
 * what `apparate logs` reads from the same tables. The page is saved as a screenshot.
 */
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ConfigStore } from '../../adapters/dynamo/config-store';
import { documentClientFor } from '../../adapters/dynamo/dynamo-client';
import { localDynamoClient } from '../../adapters/dynalite';
import { tableNames } from '../../adapters/dynamo/tables';
import { main } from '../../cli/main';
import type { LocalStack } from '../../cli/stack/local-stack';
import { startTestStack } from '../support/local-stack';
import { readStackFile } from '../../cli/stack/stack-file';
import type { DashboardSnapshot, ModelPanel } from '../../functions/dashboard/dashboard-snapshot';
import { servingInput, workerFixture, type WorkerFixture } from '../worker/worker-fixtures';

jest.setTimeout(600_000);

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const WINDOW_SECONDS = 600;
/** Where the screenshot goes; docs/operations.md shows one saved from here. */
const SCREENSHOT =
  process.env['DASHBOARD_SCREENSHOT'] ??
  resolve(__dirname, '..', '..', '.cache', 'screenshots', 'dashboard.png');

interface ClientAnswer {
  readonly earlyLabel?: string;
  readonly finalLabel: string;
}

async function json(
  url: string,
  init?: RequestInit,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, init);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/**
 * Sends `count` async requests of serving samples from `first` on, a few at a time with a generous
 * deadline (a busy two-core machine must not turn this into a load test), and reads back each
 * final state as the client sees it.
 */
async function serve(
  stack: LocalStack,
  fixture: WorkerFixture,
  first: number,
  count: number,
): Promise<string[]> {
  const model = fixture.bundle.manifest.model.name;
  const answered: string[] = [];
  for (let start = 0; start < count; start += 8) {
    const group = Array.from({ length: Math.min(8, count - start) }, (_, i) => first + start + i);
    const accepted = await Promise.all(
      group.map((index) =>
        json(`${stack.url}/v1/models/${model}/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ inputs: servingInput(fixture, index), mode: 'async', deadlineMs: 60_000 }),
        }),
      ),
    );
    const states = await Promise.all(accepted.map(({ status, body }) => finalState(stack, status, body)));
    answered.push(...states);
  }
  return answered;
}

async function finalState(
  stack: LocalStack,
  status: number,
  accepted: Record<string, unknown>,
): Promise<string> {
  if (status !== 202) throw new Error(`request refused: ${status} ${JSON.stringify(accepted)}`);
  const requestId = String(accepted['requestId']);
  const giveUpAt = Date.now() + 120_000;
  for (;;) {
    const { body: state } = await json(`${stack.url}/v1/requests/${requestId}`);
    if (state['status'] === 'final') return requestId;
    if (state['status'] === 'error' || Date.now() > giveUpAt) {
      throw new Error(`no final answer: ${JSON.stringify(state)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A request's answers as a client reads them back. Read once the exit logs have settled: the
 * durable writes happen off the response path, so just after the final answer an early answer
 * released before it may still be on its way to the results table.
 */
async function clientAnswer(stack: LocalStack, requestId: string): Promise<ClientAnswer> {
  const { body: state } = await json(`${stack.url}/v1/requests/${requestId}`);
  const early = state['early'] as { label: string } | undefined;
  const final = state['final'] as { label: string };
  return early === undefined
    ? { finalLabel: final.label }
    : { earlyLabel: early.label, finalLabel: final.label };
}

async function snapshot(stack: LocalStack): Promise<DashboardSnapshot> {
  const { status, body } = await json(`${stack.url}/v1/dashboard?windowSeconds=${WINDOW_SECONDS}`);
  expect(status).toBe(200);
  return body as unknown as DashboardSnapshot;
}

/** Waits until the exit logs (flushed in the background) hold every request sent. */
async function settledSnapshot(stack: LocalStack, sent: Record<string, number>): Promise<DashboardSnapshot> {
  const giveUpAt = Date.now() + 60_000;
  for (;;) {
    const shot = await snapshot(stack);
    if (shot.models.every((m) => m.requests === sent[m.model] && m.queueDepth === 0)) return shot;
    if (Date.now() > giveUpAt) throw new Error(`exit logs never settled: ${JSON.stringify(shot.models)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function shown(page: Page, model: string, metric: string): Promise<string> {
  return (await page.locator(`[data-model="${model}"] [data-metric="${metric}"]`).innerText()).trim();
}

/** The number in a shown text such as "12.3 ms" or "98.75%". */
const numberIn = (text: string): number => Number(/-?\d+(\.\d+)?/.exec(text)?.[0]);

let stack: LocalStack;
let dataDir: string;
let browser: Browser | undefined;
const sentIds: Record<string, string[]> = {};

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; .ci/run does)`,
    );
  }
  const fixtures = [await workerFixture('mnist-resnet'), await workerFixture('spam-bert')];
  dataDir = mkdtempSync(join(tmpdir(), 'apparate-dashboard-'));
  stack = await startTestStack('dashboard-test', {
    dataDir,
    bundles: fixtures.map((f) => ({
      model: f.bundle.manifest.model.name,
      dir: f.bundle.dir,
      prepared: false,
    })),
    models: fixtures.map((f) => f.bundle.manifest.model.name),
  });
  // Publish two configs through the stack's own tables (found as `apparate logs` finds them), with
  // traffic under each, so the page has thresholds, a history and early exits to show.
  const found = readStackFile(dataDir);
  if (found === undefined) throw new Error('the stack wrote no stack file');
  const client = localDynamoClient(found.dynamoEndpoint);
  const configs = new ConfigStore({
    client: documentClientFor(client),
    tableName: tableNames(found.tablePrefix).configs,
  });
  try {
    for (const [version, threshold, count] of [
      [1, 0.001, 24],
      [2, 0.05, 40],
    ] as const) {
      for (const fixture of fixtures) {
        const model = fixture.bundle.manifest.model.name;
        const ramps = fixture.bundle.manifest.initialConfig.ramps.map((r) => ({ id: r.id, threshold }));
        await configs.publish(model, { version, ramps });
        await stack.pool.workersOf(model)[0]?.checkConfigNow();
        const serving = stack.pool.workersOf(model)[0]?.config.version;
        if (serving !== version)
          throw new Error(`${model} serves config v${serving}, not the published v${version}`);
        sentIds[model] = [
          ...(sentIds[model] ?? []),
          ...(await serve(stack, fixture, 300 + version * 100, count)),
        ];
      }
    }
  } finally {
    client.destroy();
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, timeout: 120_000 });
});

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

describe('the dashboard in headless Chromium', () => {
  it('shows the numbers the API gives, which agree with the clients’ answers and apparate logs', async () => {
    const sent = Object.fromEntries(Object.entries(sentIds).map(([model, ids]) => [model, ids.length]));
    const api = await settledSnapshot(stack, sent);
    expect(api.models.map((m) => m.model).sort()).toEqual(['mnist-resnet', 'spam-bert']);

    // The API's agreement is the clients' own: early label equal to final label.
    for (const panel of api.models) {
      const list = await Promise.all((sentIds[panel.model] as string[]).map((id) => clientAnswer(stack, id)));
      const agreeing = list.filter((a) => a.earlyLabel === undefined || a.earlyLabel === a.finalLabel).length;
      expect(panel.agreement).toBeCloseTo(agreeing / list.length, 12);
      expect(panel.earlyRate).toBeCloseTo(
        list.filter((a) => a.earlyLabel !== undefined).length / list.length,
        12,
      );
      expect(panel.config?.version).toBe(2);
      expect(panel.history.map((h) => [h.version, h.change])).toEqual([
        [2, 'thresholds'],
        [1, 'first'],
      ]);
    }

    const page = await (browser as Browser).newPage({ viewport: { width: 1280, height: 900 } });
    try {
      await page.goto(`${stack.url}/dashboard?windowSeconds=${WINDOW_SECONDS}`);
      await page.locator('#updated[data-generated]').waitFor({ timeout: 60_000 });
      for (const panel of api.models) await expectPageShows(page, panel, api.constraint);

      // Accessible structure: a language, every table captioned, every header cell scoped.
      expect(await page.getAttribute('html', 'lang')).toBe('en');
      const tables = await page.locator('table').count();
      expect(tables).toBeGreaterThanOrEqual(6);
      expect(await page.locator('table caption').count()).toBe(tables);
      expect(await page.locator('th:not([scope])').count()).toBe(0);
      expect(await page.locator('[role="status"][aria-live="polite"]').count()).toBe(1);

      mkdirSync(dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      expect(existsSync(SCREENSHOT)).toBe(true);
    } finally {
      await page.close();
    }

    // `apparate logs` reads the same tables through the stack file and finds the same agreement.
    for (const panel of api.models) {
      const out: Buffer[] = [];
      const stdout = new PassThrough().on('data', (c: Buffer) => out.push(c));
      const stderr = new PassThrough().on('data', () => undefined);
      const code = await main(
        ['logs', '--model', panel.model, '--since', '10m', '--json', '--data-dir', dataDir],
        {
          stdout,
          stderr,
        },
      );
      expect(code).toBe(0);
      const rows = Buffer.concat(out)
        .toString('utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { agrees: boolean });
      expect(rows).toHaveLength(panel.requests);
      expect(rows.filter((r) => r.agrees).length / rows.length).toBeCloseTo(panel.agreement as number, 12);
    }
  });

  it('refuses a bad window with a message saying what is allowed', async () => {
    const { status, body } = await json(`${stack.url}/v1/dashboard?windowSeconds=0`);
    expect(status).toBe(400);
    expect(JSON.stringify(body)).toContain('windowSeconds, a whole number of seconds from 1 to 3600');
  });
});

/** Each figure on the page equals the API's, to the precision the page shows it. */
async function expectPageShows(page: Page, panel: ModelPanel, constraint: number): Promise<void> {
  const model = panel.model;
  const close = (text: string, value: number | null, digits: number): void => {
    expect(value).not.toBeNull();
    expect(Math.abs(numberIn(text) - (value as number))).toBeLessThanOrEqual(0.5 * 10 ** -digits + 1e-9);
  };
  close(await shown(page, model, 'agreement'), 100 * (panel.agreement as number), 2);
  expect(await shown(page, model, 'status')).toBe(
    (panel.agreement as number) >= constraint ? 'meets' : 'below',
  );
  close(await shown(page, model, 'throughput'), panel.throughputPerS, 2);
  expect(await shown(page, model, 'requests')).toBe(String(panel.requests));
  close(await shown(page, model, 'early-rate'), 100 * (panel.earlyRate as number), 2);
  expect(await shown(page, model, 'queue-depth')).toBe(String(panel.queueDepth));
  close(await shown(page, model, 'released-p50'), panel.releasedMs.p50, 1);
  close(await shown(page, model, 'released-p95'), panel.releasedMs.p95, 1);
  close(await shown(page, model, 'final-p50'), panel.finalMs.p50, 1);
  close(await shown(page, model, 'final-p95'), panel.finalMs.p95, 1);
  for (const exit of panel.exits) {
    expect(await shown(page, model, `exit-count-${exit.exit}`)).toBe(String(exit.requests));
    close(await shown(page, model, `exit-rate-${exit.exit}`), 100 * (exit.rate as number), 2);
  }
  for (const ramp of panel.config?.ramps ?? []) {
    close(await shown(page, model, `threshold-${ramp.id}`), ramp.threshold, 3);
  }
  expect(await page.locator(`[data-model="${model}"] table[data-version]`).getAttribute('data-version')).toBe(
    String(panel.config?.version),
  );
}
