import type { Histogram } from '../drift/report';

/**
 * The report's charts as inline SVG: a page that must open offline, from an e-mail or an S3
 * download, cannot load a charting library, and inlining one (Chart.js is ~200 KB) into every
 * report would cost more than the report itself. Two kinds are needed, so they are written here.
 */

export const COLORS = { baseline: '#98a2b3', current: '#3056d3', drift: '#b42318', grid: '#e4e7ec', axis: '#667085' } as const;

const WIDTH = 360;
const HEIGHT = 150;
const MARGIN = { left: 40, right: 8, top: 8, bottom: 34 };

/** A number short enough for an axis label: 3 significant digits, thousands as k/M. */
export function tick(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${+(value / 1e6).toPrecision(3)}M`;
  if (abs >= 1e4) return `${+(value / 1e3).toPrecision(3)}k`;
  if (abs !== 0 && abs < 1e-3) return value.toExponential(1);
  return String(+value.toPrecision(3));
}

/** Labels of the bins of a histogram: bin edges for numeric features, level names for categorical ones. */
export function binLabels(histogram: Histogram): string[] {
  if (histogram.type === 'levels') return histogram.labels;
  const bounds = [histogram.range[0], ...histogram.edges, histogram.range[1]];
  return histogram.baseline.map((_, i) => `${tick(bounds[i]!)}–${tick(bounds[i + 1]!)}`);
}

/**
 * Baseline against current share per bin, as grouped bars with a y axis in percent and the bins
 * labelled under the x axis (bin edges, or level names). Bins are drawn equally wide: numeric
 * bins are the baseline's quantiles, so each holds about the same share of the baseline and a
 * shift shows as bars that stop being level.
 */
export function histogramSvg(histogram: Histogram, title: string): string {
  const labels = binLabels(histogram);
  const n = labels.length;
  const max = Math.max(1e-9, ...histogram.baseline, ...histogram.current);
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const slot = plotW / Math.max(1, n);
  const bar = Math.max(1, slot / 2 - 1);
  const y = (share: number) => MARGIN.top + plotH - (share / max) * plotH;
  let svg = `<svg class="chart" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" role="img" aria-label="${esc(title)}"><title>${esc(title)}</title>`;
  for (const fraction of [0, 0.5, 1]) {
    const value = max * fraction;
    svg += `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y(value).toFixed(1)}" y2="${y(value).toFixed(1)}" stroke="${COLORS.grid}"/>`;
    svg += `<text x="${MARGIN.left - 4}" y="${(y(value) + 3).toFixed(1)}" text-anchor="end" class="axis">${tick(value * 100)}%</text>`;
  }
  for (let i = 0; i < n; i++) {
    const x = MARGIN.left + i * slot;
    const b = histogram.baseline[i] ?? 0;
    const c = histogram.current[i] ?? 0;
    svg += `<rect x="${x.toFixed(1)}" y="${y(b).toFixed(1)}" width="${bar.toFixed(1)}" height="${(MARGIN.top + plotH - y(b)).toFixed(1)}" fill="${COLORS.baseline}"><title>${esc(labels[i]!)}: baseline ${(b * 100).toFixed(1)}%</title></rect>`;
    svg += `<rect x="${(x + bar).toFixed(1)}" y="${y(c).toFixed(1)}" width="${bar.toFixed(1)}" height="${(MARGIN.top + plotH - y(c)).toFixed(1)}" fill="${COLORS.current}"><title>${esc(labels[i]!)}: current ${(c * 100).toFixed(1)}%</title></rect>`;
    // Every label when they fit, else every few: 30 edge labels would overlap.
    if (i % Math.ceil(n / 8) === 0) {
      const label = labels[i]!.length > 14 ? `${labels[i]!.slice(0, 13)}…` : labels[i]!;
      svg += `<text x="${(x + bar).toFixed(1)}" y="${HEIGHT - MARGIN.bottom + 12}" text-anchor="middle" class="axis">${esc(label)}</text>`;
    }
  }
  svg += `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${MARGIN.top + plotH}" y2="${MARGIN.top + plotH}" stroke="${COLORS.axis}"/>`;
  svg += `<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 4}" text-anchor="middle" class="axis">${histogram.type === 'bins' ? 'value (bin edges: baseline quantiles)' : 'level'}</text>`;
  return `${svg}</svg>`;
}

/** One point of a series over runs: when, and the value (null: not assessed in that run). */
export interface SeriesPoint {
  readonly at: string;
  readonly value: number | null;
}

/**
 * A series over the model's recent runs as a line with points, a dashed line at `threshold` (the
 * value at which the gate opens) and the dates of the first and last runs under the axis.
 */
export function seriesSvg(points: readonly SeriesPoint[], threshold: number, title: string): string {
  const values = points.map((p) => p.value).filter((v): v is number => v !== null);
  const max = Math.max(threshold * 1.25, ...values, 1e-9);
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (i: number) => MARGIN.left + (points.length < 2 ? plotW / 2 : (i / (points.length - 1)) * plotW);
  const y = (v: number) => MARGIN.top + plotH - (v / max) * plotH;
  let svg = `<svg class="chart" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" role="img" aria-label="${esc(title)}"><title>${esc(title)}</title>`;
  for (const value of [0, max / 2, max]) {
    svg += `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y(value).toFixed(1)}" y2="${y(value).toFixed(1)}" stroke="${COLORS.grid}"/><text x="${MARGIN.left - 4}" y="${(y(value) + 3).toFixed(1)}" text-anchor="end" class="axis">${tick(value)}</text>`;
  }
  svg += `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y(threshold).toFixed(1)}" y2="${y(threshold).toFixed(1)}" stroke="${COLORS.drift}" stroke-dasharray="4 3"><title>threshold ${tick(threshold)}</title></line>`;
  const path = points.flatMap((p, i) => (p.value === null ? [] : [`${x(i).toFixed(1)},${y(p.value).toFixed(1)}`]));
  if (path.length > 1) svg += `<polyline points="${path.join(' ')}" fill="none" stroke="${COLORS.current}" stroke-width="1.5"/>`;
  points.forEach((p, i) => {
    if (p.value !== null) svg += `<circle cx="${x(i).toFixed(1)}" cy="${y(p.value).toFixed(1)}" r="3" fill="${p.value >= threshold ? COLORS.drift : COLORS.current}"><title>${esc(p.at)}: ${tick(p.value)}</title></circle>`;
  });
  if (points.length) {
    svg += `<text x="${MARGIN.left}" y="${HEIGHT - MARGIN.bottom + 12}" class="axis">${esc(points[0]!.at.slice(0, 16))}</text>`;
    if (points.length > 1) svg += `<text x="${WIDTH - MARGIN.right}" y="${HEIGHT - MARGIN.bottom + 12}" text-anchor="end" class="axis">${esc(points.at(-1)!.at.slice(0, 16))}</text>`;
  }
  svg += `<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 4}" text-anchor="middle" class="axis">run (UTC)</text>`;
  return `${svg}</svg>`;
}

export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
