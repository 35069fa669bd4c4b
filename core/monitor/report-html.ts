import type { DriftReport, FeatureDrift } from '../drift/report';

/**
 * The drift report as one self-contained HTML page for the on-call engineer: readable offline,
 * nothing loaded from elsewhere. The histograms are small inline SVG bar pairs, written here
 * because a charting library would have to be inlined into every report file.
 */
export function renderReportHtml(report: DriftReport, context: { model: string; version: string; createdAt: string; window: string; triggered?: string | null; skipped?: Record<string, number> }): string {
  const d = report.dataset;
  const verdict = d.alert ? 'DRIFT' : d.verdict === 'insufficient_data' ? 'INSUFFICIENT DATA' : 'NO DRIFT';
  const rows = report.features.map((f) => featureRow(f)).join('');
  const prediction = report.prediction
    ? `<h2>Predictions</h2><p>${esc(JSON.stringify(summarizePrediction(report.prediction)))}</p>`
    : '';
  const quality = report.quality ? `<h2>Model quality</h2><pre>${esc(JSON.stringify(report.quality, null, 2))}</pre>` : '';
  const skipped = Object.entries(context.skipped ?? {}).filter(([, n]) => n > 0);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Drift report: ${esc(context.model)} ${esc(context.version)}</title>
<style>body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1d2330}table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #e4e7ec;padding:6px 8px;text-align:left;vertical-align:middle}
th{color:#667085;font-size:12px}.drift{color:#b42318;font-weight:600}.no_drift{color:#067647}.insufficient_data{color:#667085}.banner{padding:10px 14px;border-radius:6px;background:${d.alert ? '#fef3f2' : '#ecfdf3'};font-weight:600}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}</style></head><body>
<h1>Drift report: ${esc(context.model)} ${esc(context.version)}</h1>
<p class="banner">${verdict}: ${d.driftedFeatures.length ? `drifted features ${esc(d.driftedFeatures.join(', '))}` : 'no feature drifted'}${d.predictionDrift ? '; predictions drifted' : ''} (${(d.driftedShare * 100).toFixed(0)}% of ${d.testedFeatures} tested features)</p>
<p>Window: ${esc(context.window)} · ${report.sampleSizes.currentRows} current rows vs ${report.sampleSizes.baselineRows} baseline rows · ${esc(report.multipleTesting.correction)} correction at α = ${report.multipleTesting.alpha} over ${report.multipleTesting.tests} tests · created ${esc(context.createdAt)}</p>
<p>Triggered: ${esc(context.triggered ?? 'nothing')}</p>
${skipped.length ? `<p>Skipped capture lines: ${esc(skipped.map(([k, n]) => `${k} ${n}`).join(', '))}</p>` : ''}
${d.warnings.length ? `<p>Warnings: ${esc(d.warnings.join('; '))}</p>` : ''}
<p class="legend">Histograms:<span style="background:#98a2b3"></span>baseline<span style="background:#3056d3"></span>current</p>
<table><thead><tr><th>feature</th><th>verdict</th><th>test</th><th>statistic</th><th>p-value (adjusted)</th><th>effect (threshold)</th><th>missing (base → now)</th><th>baseline vs current</th></tr></thead><tbody>${rows}</tbody></table>
${prediction}${quality}
</body></html>`;
}

function featureRow(f: FeatureDrift): string {
  const fmt = (v: number | null | undefined, digits = 4) => (v === null || v === undefined ? '–' : Math.abs(v) < 1e-4 && v !== 0 ? v.toExponential(2) : v.toFixed(digits));
  const effect = f.effect ? `${esc(f.effect.name)} ${fmt(f.effect.value)} (${fmt(f.effect.threshold, 2)})` : '–';
  return `<tr><td>${esc(f.name)}</td><td class="${f.verdict}">${f.verdict.replace('_', ' ')}</td><td>${esc(f.test)}</td><td>${fmt(f.statistic)}</td>
<td>${fmt(f.pValue)} (${fmt(f.adjustedPValue)})</td><td>${effect}</td><td>${fmt(f.missingRate.baseline, 3)} → ${fmt(f.missingRate.current, 3)}</td><td>${bars(f.histogram.baseline, f.histogram.current)}</td></tr>`;
}

function bars(baseline: readonly number[], current: readonly number[]): string {
  const n = Math.max(baseline.length, current.length);
  const max = Math.max(1e-9, ...baseline, ...current);
  const w = 8;
  const h = 40;
  let svg = `<svg width="${n * (2 * w + 3)}" height="${h}" role="img">`;
  for (let i = 0; i < n; i++) {
    const b = ((baseline[i] ?? 0) / max) * h;
    const c = ((current[i] ?? 0) / max) * h;
    const x = i * (2 * w + 3);
    svg += `<rect x="${x}" y="${(h - b).toFixed(1)}" width="${w}" height="${b.toFixed(1)}" fill="#98a2b3"/><rect x="${x + w}" y="${(h - c).toFixed(1)}" width="${w}" height="${c.toFixed(1)}" fill="#3056d3"/>`;
  }
  return `${svg}</svg>`;
}

function summarizePrediction(prediction: NonNullable<DriftReport['prediction']>): unknown {
  const rest = JSON.parse(JSON.stringify(prediction)) as Record<string, unknown>;
  for (const key of Object.keys(rest)) if (typeof rest[key] === 'object' && rest[key] && 'histogram' in (rest[key] as object)) delete (rest[key] as Record<string, unknown>).histogram;
  return rest;
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
