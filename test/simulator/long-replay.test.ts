/**
 * A ten-minute stretch of the Twitter trace at load 0.7 is hundreds of thousands of requests. The
 * summaries and charts of such a replay must not spread its outcomes into a call (`Math.max(...xs)`
 * puts every element on the stack and overflows it); these tests give them replay-sized inputs.
 */
import { lineChart } from '../../core/report/svg-chart';
import { summarise } from '../../core/simulator/metrics';
import type { RequestOutcome } from '../../core/simulator/replay';
import { maxOf, minOf } from '../../core/util/stats';

/** More requests than one call's arguments may hold on Node's default stack. */
const REQUESTS = 400_000;

describe('summaries of a long replay', () => {
  it('summarise takes every outcome of a 400k-request replay', () => {
    // Given 400k served requests arriving 1.5 ms apart, each answered 10 ms after arrival
    const outcomes: RequestOutcome[] = Array.from({ length: REQUESTS }, (_, i) => ({
      streamIndex: i % 1000,
      arrivalMs: 1.5 * i,
      startMs: 1.5 * i,
      releaseAtMs: 1.5 * i + 10,
      exitAt: i % 2 === 0 ? 0 : -1,
      agrees: true,
    }));

    // When it is summarised
    const summary = summarise('apparate', outcomes);

    // Then the span runs from the first arrival to the last release
    expect(summary.served).toBe(REQUESTS);
    expect(summary.latencyMs.p50).toBeCloseTo(10, 6);
    expect(summary.throughputRps).toBeCloseTo(REQUESTS / ((1.5 * (REQUESTS - 1) + 10) / 1000), 3);
    expect(summary.exitRate).toBeCloseTo(0.5, 6);
  });

  it('a chart takes a 400k-point series', () => {
    // Given one series per point of a long replay
    const x = Float64Array.from({ length: REQUESTS }, (_, i) => i);
    const y = Float64Array.from({ length: REQUESTS }, (_, i) => Math.sin(i / 1000));

    // When it is drawn
    const svg = lineChart([{ label: 'agreement', x, y }], { title: 'long', xLabel: 's', yLabel: 'y' });

    // Then an SVG comes out
    expect(svg).toMatch(/^<svg /);
    expect(svg).toContain('polyline');
  });

  it('maxOf and minOf fold any number of values, with a floor and a ceiling for none', () => {
    const many = Float64Array.from({ length: REQUESTS }, (_, i) => (i * 7919) % REQUESTS);
    expect(maxOf(many)).toBe(REQUESTS - 1);
    expect(minOf(many)).toBe(0);
    expect(maxOf([], 3)).toBe(3);
    expect(minOf([], 3)).toBe(3);
    expect(maxOf([1, 2], 5)).toBe(5);
  });
});
