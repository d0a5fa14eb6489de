/**
 * Generation metrics in the worker's Prometheus format: time per token (the gap between a row's
 * successive tokens, as its client sees them), tokens by where they were released (a ramp or the
 * full model), rows streaming, per-token agreement over the feedback window, and the thresholds
 * in force. Step summaries from the engine feed the window-level gauges.
 */
import { Counter, Histogram } from '../metrics';
import type { GenerationEvent } from './generation-loop';

const TPT_BUCKETS_MS = [0.5, 1, 2, 3, 5, 8, 13, 20, 35, 60, 100, 200, 500];

export class GenerationMetrics {
  readonly timePerToken = new Histogram(
    'apparate_generate_time_per_token_ms',
    'Gap between successive tokens of a row, ms',
    TPT_BUCKETS_MS,
  );
  readonly tokens = new Counter(
    'apparate_generate_tokens_total',
    'Tokens released, by exit (ramp index or full)',
  );
  readonly rows = new Counter(
    'apparate_generate_rows',
    'Rows held by the decoder after the last step',
    'gauge',
  );
  readonly agreement = new Counter(
    'apparate_generate_window_agreement',
    'Per-token agreement with the full model over the feedback window',
    'gauge',
  );
  readonly thresholds = new Counter('apparate_generate_threshold', 'Threshold in force per ramp', 'gauge');
  readonly retunes = new Counter(
    'apparate_generate_retunes_total',
    'Threshold changes by the feedback loop, by action',
  );

  /** Counts one released token; `gapMs` is null for a row's first token. */
  observeToken(model: string, gapMs: number | null, exitRamp: number | null, _rampCount: number): void {
    if (gapMs !== null) this.timePerToken.observe(gapMs, { model });
    this.tokens.inc({ model, exit: exitRamp === null ? 'full' : `ramp${exitRamp}` });
  }

  /** Takes the engine's step and retune events. */
  observeEvent(model: string, event: GenerationEvent): void {
    if (event.type === 'step') {
      this.rows.set(event.rows, { model });
      this.agreement.set(event.windowAgreement, { model });
      event.thresholds.forEach((t, r) => this.thresholds.set(t, { model, ramp: String(r) }));
    } else if (event.type === 'retuned') {
      this.retunes.inc({ model, action: event.action });
    }
  }

  render(): string {
    return (
      [this.timePerToken, this.tokens, this.rows, this.agreement, this.thresholds, this.retunes]
        .map((m) => m.render())
        .join('\n') + '\n'
    );
  }
}
