/**
 * Generation metrics, kept with prom-client and served in Prometheus' text format: time per token (the gap between a row's
 * successive tokens, as its client sees them), tokens by where they were released (a ramp or the
 * full model), rows streaming, per-token agreement over the feedback window, and the thresholds
 * in force. Step summaries from the engine feed the window-level gauges.
 */
import { Registry } from 'prom-client';
import { metricsIn } from '../../core/util/prometheus';
import type { GenerationEvent } from './generation-loop';

const TPT_BUCKETS_MS = [0.5, 1, 2, 3, 5, 8, 13, 20, 35, 60, 100, 200, 500];

/** The generation server's metrics, in a registry of their own (one server per process). */
export class GenerationMetrics {
  readonly registry = new Registry();
  /** Every generation metric is named `apparate_generate_…` and labelled by model. */
  private readonly declare = metricsIn(this.registry, 'apparate_generate_', ['model']);
  readonly timePerToken = this.declare.histogram(
    'time_per_token_ms',
    'Gap between successive tokens of a row, ms',
    TPT_BUCKETS_MS,
  );
  readonly tokens = this.declare.counter('tokens_total', 'Tokens released, by exit (ramp index or full)', [
    'exit',
  ]);
  readonly rows = this.declare.gauge('rows', 'Rows held by the decoder after the last step');
  readonly agreement = this.declare.gauge(
    'window_agreement',
    'Per-token agreement with the full model over the feedback window',
  );
  readonly thresholds = this.declare.gauge('threshold', 'Threshold in force per ramp', ['ramp']);
  readonly retunes = this.declare.counter(
    'retunes_total',
    'Threshold changes by the feedback loop, by action',
    ['action'],
  );

  /** Counts one released token; `gapMs` is null for a row's first token. */
  observeToken(model: string, gapMs: number | null, exitRamp: number | null, _rampCount: number): void {
    if (gapMs !== null) this.timePerToken.observe({ model }, gapMs);
    this.tokens.inc({ model, exit: exitRamp === null ? 'full' : `ramp${exitRamp}` });
  }

  /** Takes the engine's step and retune events. */
  observeEvent(model: string, event: GenerationEvent): void {
    if (event.type === 'step') {
      this.rows.set({ model }, event.rows);
      this.agreement.set({ model }, event.windowAgreement);
      event.thresholds.forEach((t, r) => this.thresholds.set({ model, ramp: String(r) }, t));
    } else if (event.type === 'retuned') {
      this.retunes.inc({ model, action: event.action });
    }
  }

  /** The exposition text of every metric. */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}
