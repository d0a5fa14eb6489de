/**
 * The dashboard page: one self-contained HTML document (inline CSS and a small script, no build
 * step, no third-party code) that reads `/v1/dashboard` every few seconds and renders each model's
 * panel with plain DOM calls. Text is set with `textContent`, never parsed as HTML, so a model or
 * ramp id cannot inject markup. Accessibility: real tables with captions and header scopes,
 * a status that says "meets" or "below" in words (not colour alone), colours above 4.5:1 contrast,
 * and a polite live region announcing each refresh.
 */

/** Refresh period of the page, ms. */
export const DASHBOARD_REFRESH_MS = 3000;

const STYLE = `
:root { color-scheme: light; --ink: #1a1a1a; --muted: #4a4a4a; --line: #c8c8c8; --ok: #0b6b2f; --bad: #a4161a; --bg: #ffffff; --panel: #f5f6f8; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--bg); }
header { padding: 14px 24px; border-bottom: 1px solid var(--line); display: flex; flex-wrap: wrap; gap: 8px 24px; align-items: baseline; }
h1 { font-size: 20px; margin: 0; }
header p { margin: 0; color: var(--muted); }
main { padding: 16px 24px; display: grid; gap: 20px; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); }
section.model { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 12px 16px; }
h2 { font-size: 18px; margin: 0 0 8px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(140px, 1fr)); gap: 8px; margin-bottom: 10px; }
.card { background: var(--bg); border: 1px solid var(--line); border-radius: 4px; padding: 6px 10px; }
.card .label { display: block; color: var(--muted); font-size: 13px; }
.card .value { font-size: 20px; font-variant-numeric: tabular-nums; }
.ok { color: var(--ok); font-weight: 600; }
.bad { color: var(--bad); font-weight: 600; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; background: var(--bg); }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
#error { color: var(--bad); font-weight: 600; }
`;

/**
 * The script, as source text. Formatting rules shown to people: latency in ms with one decimal,
 * shares in percent with two, throughput with two decimals; "–" where there is nothing to show.
 */
const SCRIPT = `
'use strict';
const REFRESH_MS = ${DASHBOARD_REFRESH_MS};
const params = new URLSearchParams(location.search);
const windowSeconds = params.get('windowSeconds') || '60';
const el = (tag, attrs, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
};
const ms = (v) => (v === null || v === undefined ? '–' : v.toFixed(1) + ' ms');
const pct = (v) => (v === null || v === undefined ? '–' : (100 * v).toFixed(2) + '%');
const when = (v) => (v === null ? 'not published' : new Date(v).toISOString().replace('T', ' ').replace(/\\.\\d+Z$/, ' UTC'));
const card = (label, metric, text, cls) =>
  el('div', { class: 'card' }, el('span', { class: 'label', id: metric.id }, label),
    el('span', { class: 'value' + (cls ? ' ' + cls : ''), 'data-metric': metric.name, 'aria-labelledby': metric.id }, text));
const table = (caption, head, rows) => {
  const thead = el('thead', {}, el('tr', {}, ...head.map((h) => el('th', { scope: 'col' }, h))));
  const tbody = el('tbody', {}, ...rows.map((cells) => el('tr', {}, ...cells)));
  return el('table', {}, el('caption', {}, caption), thead, tbody);
};
const cell = (text, metric, numeric) => el('td', Object.assign(numeric ? { class: 'num' } : {}, metric ? { 'data-metric': metric } : {}), text);
const rowHeader = (text) => el('th', { scope: 'row' }, text);
const thresholds = (ramps) => (ramps.length === 0 ? 'no ramps' : ramps.map((r) => r.id + ' = ' + r.threshold.toFixed(3)).join(', '));

function panel(m, snapshot) {
  const id = (name) => ({ name, id: 'l-' + m.model.replace(/[^A-Za-z0-9_-]/g, '_') + '-' + name });
  const status = m.meetsConstraint === null ? ['no requests', ''] : m.meetsConstraint ? ['meets', 'ok'] : ['below', 'bad'];
  const cards = el('div', { class: 'cards' },
    card('Agreement vs ' + pct(snapshot.constraint), id('agreement'), pct(m.agreement)),
    card('Constraint', id('status'), status[0], status[1]),
    card('Throughput (req/s)', id('throughput'), m.throughputPerS.toFixed(2)),
    card('Requests in window', id('requests'), String(m.requests)),
    card('Answered early', id('early-rate'), pct(m.earlyRate)),
    card('Queue depth', id('queue-depth'), m.queueDepth === null ? '–' : String(m.queueDepth)),
  );
  const latency = table('Latency from arrival, last ' + snapshot.windowSeconds + ' s', ['', 'released', 'final'], [
    [rowHeader('p50'), cell(ms(m.releasedMs.p50), 'released-p50', true), cell(ms(m.finalMs.p50), 'final-p50', true)],
    [rowHeader('p95'), cell(ms(m.releasedMs.p95), 'released-p95', true), cell(ms(m.finalMs.p95), 'final-p95', true)],
  ]);
  const exits = table('Exits', ['exit', 'requests', 'share'], m.exits.map((x) => [
    rowHeader(x.exit), cell(String(x.requests), 'exit-count-' + x.exit, true), cell(pct(x.rate), 'exit-rate-' + x.exit, true),
  ]));
  const config = m.config === null
    ? el('p', { 'data-metric': 'config-version' }, 'No config published yet.')
    : table('Serving config v' + m.config.version + ' (' + when(m.config.publishedAtMs) + ')', ['ramp', 'threshold'],
        m.config.ramps.length === 0 ? [[rowHeader('no ramps'), cell('–', null, true)]]
          : m.config.ramps.map((r) => [rowHeader(r.id), cell(r.threshold.toFixed(3), 'threshold-' + r.id, true)]));
  if (m.config !== null) config.setAttribute('data-version', String(m.config.version));
  const history = table('Config versions, newest first', ['version', 'published', 'changed', 'thresholds'],
    m.history.map((h) => [rowHeader('v' + h.version), cell(when(h.publishedAtMs)), cell(h.change === 'first' ? '–' : h.change), cell(thresholds(h.ramps))]));
  return el('section', { class: 'model', 'data-model': m.model, 'aria-labelledby': 'h-' + id('x').id },
    el('h2', { id: 'h-' + id('x').id }, m.model), cards, latency, exits, config, history);
}

async function refresh() {
  const status = document.getElementById('updated');
  const error = document.getElementById('error');
  try {
    const response = await fetch('/v1/dashboard?windowSeconds=' + encodeURIComponent(windowSeconds), { cache: 'no-store' });
    const body = await response.json();
    if (!response.ok) throw new Error(body && body.error ? body.error.message : 'HTTP ' + response.status);
    document.getElementById('models').replaceChildren(...body.models.map((m) => panel(m, body)));
    document.getElementById('window').textContent = String(body.windowSeconds);
    status.textContent = 'Updated ' + new Date(body.generatedAtMs).toLocaleTimeString();
    status.setAttribute('data-generated', String(body.generatedAtMs));
    error.textContent = '';
  } catch (e) {
    error.textContent = 'Could not refresh: ' + e.message;
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}
refresh();
`;

/** The whole page. */
export function dashboardPage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Apparate dashboard</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>Apparate dashboard</h1>
<p>Last <span id="window">60</span> s, refreshed every ${DASHBOARD_REFRESH_MS / 1000} s. <span id="updated" role="status" aria-live="polite">Loading…</span></p>
<p id="error" role="alert"></p>
</header>
<main id="models" aria-label="Models"></main>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
