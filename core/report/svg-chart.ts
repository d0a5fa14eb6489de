/**
 * Minimal SVG line charts for reports (latency CDFs, agreement over time, wins per load). Plots are
 * written as plain SVG text so that evaluation runs need no browser, canvas or plotting library,
 * and the files diff cleanly when figures are regenerated.
 */

import { maxOf, minOf } from '../util/stats';

export interface Series {
  readonly label: string;
  readonly x: ArrayLike<number>;
  readonly y: ArrayLike<number>;
  /** Draw as a step line (CDFs) instead of straight segments. */
  readonly step?: boolean;
}

export interface ChartOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly width?: number;
  readonly height?: number;
  readonly xMax?: number;
  readonly yMin?: number;
  readonly yMax?: number;
  /** Vertical markers (e.g. threshold changes) at these x values. */
  readonly markers?: readonly number[];
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** "Nice" tick values covering [min, max]. */
export function ticks(min: number, max: number, count = 5): number[] {
  const span = max - min || 1;
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const values: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step)
    values.push(Number(v.toPrecision(12)));
  return values;
}

function formatTick(value: number): string {
  return Math.abs(value) >= 1000 || (Math.abs(value) < 0.01 && value !== 0)
    ? value.toExponential(1)
    : String(value);
}

/** Renders the series as one SVG document. */
export function lineChart(series: readonly Series[], options: ChartOptions): string {
  const width = options.width ?? 720;
  const height = options.height ?? 420;
  const margin = { left: 64, right: 170, top: 40, bottom: 52 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const allX = series.flatMap((s) => Array.from(s.x));
  const allY = series.flatMap((s) => Array.from(s.y));
  const xMin = minOf(allX, 0);
  const xMax = options.xMax ?? maxOf(allX, 1e-9);
  const yMin = options.yMin ?? minOf(allY);
  const yMax = options.yMax ?? maxOf(allY);
  const sx = (x: number) => margin.left + ((Math.min(x, xMax) - xMin) / (xMax - xMin || 1)) * plotW;
  const sy = (y: number) => margin.top + plotH - ((y - yMin) / (yMax - yMin || 1)) * plotH;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${margin.left + plotW / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(options.title)}</text>`,
  ];
  for (const t of ticks(xMin, xMax)) {
    parts.push(
      `<line x1="${sx(t)}" y1="${margin.top}" x2="${sx(t)}" y2="${margin.top + plotH}" stroke="#eee"/>`,
      `<text x="${sx(t)}" y="${margin.top + plotH + 16}" text-anchor="middle">${formatTick(t)}</text>`,
    );
  }
  for (const t of ticks(yMin, yMax)) {
    parts.push(
      `<line x1="${margin.left}" y1="${sy(t)}" x2="${margin.left + plotW}" y2="${sy(t)}" stroke="#eee"/>`,
      `<text x="${margin.left - 6}" y="${sy(t) + 4}" text-anchor="end">${formatTick(t)}</text>`,
    );
  }
  parts.push(
    `<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`,
    `<text x="${margin.left + plotW / 2}" y="${height - 12}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`,
    `<text transform="translate(16 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(options.yLabel)}</text>`,
  );
  for (const marker of options.markers ?? []) {
    parts.push(
      `<line x1="${sx(marker)}" y1="${margin.top}" x2="${sx(marker)}" y2="${margin.top + plotH}" stroke="#999" stroke-dasharray="3 3"/>`,
    );
  }
  series.forEach((s, index) => {
    const colour = PALETTE[index % PALETTE.length] as string;
    const points: string[] = [];
    for (let i = 0; i < s.x.length; i++) {
      const x = sx(s.x[i] as number);
      const y = sy(s.y[i] as number);
      if (s.step && i > 0) points.push(`${x.toFixed(1)},${sy(s.y[i - 1] as number).toFixed(1)}`);
      points.push(`${x.toFixed(1)},${y.toFixed(1)}`);
    }
    parts.push(`<polyline fill="none" stroke="${colour}" stroke-width="1.8" points="${points.join(' ')}"/>`);
    const ly = margin.top + 14 + index * 18;
    parts.push(
      `<line x1="${margin.left + plotW + 12}" y1="${ly - 4}" x2="${margin.left + plotW + 32}" y2="${ly - 4}" stroke="${colour}" stroke-width="2"/>`,
      `<text x="${margin.left + plotW + 38}" y="${ly}">${escapeXml(s.label)}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/** Empirical CDF points of a sample, thinned to at most `points` for compact files. */
export function cdfSeries(label: string, values: ArrayLike<number>, points = 400): Series {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  const x: number[] = [];
  const y: number[] = [];
  const stride = Math.max(1, Math.floor(n / points));
  for (let i = 0; i < n; i += stride) {
    x.push(sorted[i] as number);
    y.push((i + 1) / n);
  }
  if (n > 0 && x[x.length - 1] !== sorted[n - 1]) {
    x.push(sorted[n - 1] as number);
    y.push(1);
  }
  return { label, x, y, step: true };
}
