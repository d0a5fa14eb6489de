/**
 * The worker's `/metrics` server over a real `WorkerMetrics` (prom-client): scraped over HTTP and
 * read with a strict parser of the exposition format, with the names and labels dashboards use.
 */
import { startMetricsServer, WorkerMetrics } from '../../gpu-worker/metrics';
import { parseExposition, sampleValue } from '../support/prometheus-text';

describe('the worker’s metrics server', () => {
  it('serves every family in exposition format, with cumulative histogram buckets', async () => {
    // Given metrics after three served requests, one early at ramp c1, and a judged window
    const metrics = new WorkerMetrics();
    const server = await startMetricsServer(0, metrics, () => true, '127.0.0.1');
    try {
      const empty = parseExposition(await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text());
      metrics.requests.inc({ outcome: 'served' }, 3);
      metrics.exits.inc({ exit: 'c1' });
      metrics.exits.inc({ exit: 'final' }, 2);
      for (const ms of [3, 30, 300]) metrics.finalLatencyMs.observe(ms);
      metrics.batchSize.observe(3);
      metrics.windowAgreement.set(0.98);
      metrics.configVersion.set(4);

      // When it is scraped
      const response = await fetch(`http://127.0.0.1:${server.port}/metrics`);
      const families = parseExposition(await response.text());

      // Then every family has its type, and the samples have the values recorded
      expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(Object.fromEntries([...families.values()].map((f) => [f.name, f.type]))).toEqual({
        apparate_worker_requests_total: 'counter',
        apparate_worker_exits_total: 'counter',
        apparate_worker_early_release_ms: 'histogram',
        apparate_worker_final_ms: 'histogram',
        apparate_worker_queue_wait_ms: 'histogram',
        apparate_worker_batch_size: 'histogram',
        apparate_worker_window_agreement: 'gauge',
        apparate_worker_config_version: 'gauge',
        apparate_worker_exit_log_dropped_total: 'gauge',
        apparate_worker_guard_lowered_total: 'counter',
      });
      expect(sampleValue(families, 'apparate_worker_requests_total', { outcome: 'served' })).toBe(3);
      expect(sampleValue(families, 'apparate_worker_exits_total', { exit: 'c1' })).toBe(1);
      expect(sampleValue(families, 'apparate_worker_final_ms_bucket', { le: '5' })).toBe(1);
      expect(sampleValue(families, 'apparate_worker_final_ms_bucket', { le: '50' })).toBe(2);
      expect(sampleValue(families, 'apparate_worker_final_ms_bucket', { le: '+Inf' })).toBe(3);
      expect(sampleValue(families, 'apparate_worker_final_ms_sum')).toBe(333);
      expect(sampleValue(families, 'apparate_worker_window_agreement')).toBe(0.98);
      expect(sampleValue(families, 'apparate_worker_config_version')).toBe(4);
      // ... and before any window was judged, agreement had no sample (not a misleading 0)
      expect(sampleValue(empty, 'apparate_worker_window_agreement')).toBeUndefined();
      expect(empty.get('apparate_worker_window_agreement')?.type).toBe('gauge');
    } finally {
      await server.close();
    }
  });
});
