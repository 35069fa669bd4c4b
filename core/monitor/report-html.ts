import type { DriftReport, FeatureDrift } from '../drift/report';
import { verdictOf } from '../drift/verdict';
import { esc, histogramSvg, seriesSvg, tick } from './report-charts';
import { driftScore, type HistoryRun } from './report-history';

/** What the page says around the report: which model, which window, what it set off, and the runs before it. */
export interface ReportContext {
  readonly model: string;
  readonly version: string;
  readonly createdAt: string;
  readonly window: string;
  readonly triggered?: string | null;
  readonly skipped?: Record<string, number>;
  /** The model's earlier runs, oldest first, for each feature's drift over time. @default - none: no history section */
  readonly history?: readonly HistoryRun[];
}

/**
 * The drift report as one self-contained HTML page for the on-call engineer: readable offline,
 * nothing loaded from elsewhere (styles, charts and the few lines of table script are inline).
 * It leads with the verdict and what caused it, then a table of the features — drifted first,
 * sortable by any column, filterable by name — whose rows open onto the feature's baseline
 * against current distribution and its drift score over recent runs; then the predictions and
 * model quality as tables and charts.
 */
export function renderReportHtml(report: DriftReport, context: ReportContext): string {
  const verdict = verdictOf(report);
  const skipped = Object.entries(context.skipped ?? {}).filter(([, n]) => n > 0);
  const features = [...report.features].sort((a, b) => rank(a) - rank(b) || (driftScore(b) ?? -1) - (driftScore(a) ?? -1));
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Drift report: ${esc(context.model)} ${esc(context.version)}</title><style>${STYLE}</style></head><body>
<h1>Drift report: ${esc(context.model)} ${esc(context.version)}</h1>
<p class="meta">${esc(context.createdAt)} · window: ${esc(context.window)} · ${esc(report.multipleTesting.correction)} correction at α = ${report.multipleTesting.alpha} over ${report.multipleTesting.tests} tests</p>
<p class="banner ${verdict.status}" id="verdict">${esc(verdict.headline)}</p>
${cards(report, verdict.status)}
<p>Triggered: ${esc(context.triggered ?? 'nothing')}</p>
${skipped.length ? `<p>Skipped capture lines: ${esc(skipped.map(([k, n]) => `${k} ${n}`).join(', '))}</p>` : ''}
${report.dataset.warnings.length ? `<ul class="warnings">${report.dataset.warnings.map((w) => `<li>${esc(w)}</li>`).join('')}</ul>` : ''}
<h2>Features</h2>
<p><input id="filter" type="search" placeholder="Filter features by name" aria-label="Filter features by name"> <span class="legend"><i style="background:#98a2b3"></i>baseline <i style="background:#3056d3"></i>current</span></p>
<table id="features"><thead><tr>${COLUMNS.map((c, i) => `<th data-column="${i}" data-type="${c.type}" tabindex="0">${c.label}</th>`).join('')}</tr></thead>
<tbody>${features.map((f) => featureRows(f, context.history ?? [])).join('')}</tbody></table>
${predictionSection(report)}${qualitySection(report)}${multivariateSection(report)}
<script>${SCRIPT}</script></body></html>`;
}

/** Drifted features first, then the decided ones, then the undecided. */
function rank(f: FeatureDrift): number {
  if (f.verdict === 'drift' || f.missing?.verdict === 'drift') return 0;
  return f.verdict === 'no_drift' ? 1 : 2;
}

const fmt = (v: number | null | undefined, digits = 4) => (v === null || v === undefined ? '–' : Math.abs(v) < 1e-4 && v !== 0 ? v.toExponential(2) : v.toFixed(digits));
const pct = (v: number | null | undefined) => (v === null || v === undefined ? '–' : `${(v * 100).toFixed(1)}%`);

function cards(report: DriftReport, status: string): string {
  const d = report.dataset;
  const q = report.quality;
  const realized = q && q.labeledRows > 0 ? (q.metrics.find((m) => m.name === 'accuracy') ?? q.metrics[0]) : undefined;
  const quality = realized
    ? [`${realized.name} ${fmt(realized.current, 3)}`, `baseline ${fmt(realized.baseline, 3)} · ${q!.labeledRows} labelled rows`]
    : q?.estimated
      ? [`est. accuracy ${fmt(q.estimated.estimate, 3)}`, `CBPE, baseline ${fmt(q.estimated.reference, 3)} · no labels`]
      : ['–', 'no labels, no estimate'];
  const card = (id: string, label: string, value: string, note: string, tone = '') => `<div class="card ${tone}" id="card-${id}"><div class="label">${label}</div><div class="value">${esc(value)}</div><div class="note">${esc(note)}</div></div>`;
  return `<div class="cards">${[
    card('verdict', 'Verdict', status.replace('_', ' ').toUpperCase(), d.alert ? 'alarm raised' : 'no alarm', status),
    card('rows', 'Rows', report.sampleSizes.currentRows.toLocaleString('en'), `against ${report.sampleSizes.baselineRows.toLocaleString('en')} baseline rows`),
    card('drifted', 'Drifted features', `${d.driftedFeatures.length} of ${d.testedFeatures}`, d.driftedFeatures.slice(0, 4).join(', ') + (d.driftedFeatures.length > 4 ? ', …' : '') || 'none', d.driftedFeatures.length ? 'drift' : ''),
    card('quality', 'Model quality', quality[0]!, quality[1]!, q?.alarm || q?.estimated?.alarm ? 'drift' : ''),
  ].join('')}</div>`;
}

const COLUMNS = [
  { label: 'feature', type: 'text' },
  { label: 'verdict', type: 'text' },
  { label: 'test', type: 'text' },
  { label: 'p (adjusted)', type: 'number' },
  { label: 'effect', type: 'text' },
  { label: 'score', type: 'number' },
  { label: 'missing', type: 'number' },
] as const;

/** A feature's summary row, and the row under it that opens onto its charts. */
function featureRows(f: FeatureDrift, history: readonly HistoryRun[]): string {
  const score = driftScore(f);
  const missing = f.missing ?? { baselineRate: f.missingRate.baseline ?? 0, currentRate: f.missingRate.current, verdict: 'no_drift' as const };
  const effect = f.effect ? `${f.effect.name} ${fmt(f.effect.value)} (≥ ${fmt(f.effect.threshold, 2)})` : '–';
  const cells = [
    [f.name, esc(f.name)],
    [f.verdict, `<span class="${f.verdict}">${f.verdict.replace('_', ' ')}</span>`],
    [f.test, esc(f.test)],
    [String(f.adjustedPValue ?? ''), fmt(f.adjustedPValue)],
    [effect, esc(effect)],
    [String(score ?? ''), fmt(score, 2)],
    [String(missing.currentRate ?? ''), `<span class="${missing.verdict === 'drift' ? 'drift' : ''}">${pct(missing.baselineRate)} → ${pct(missing.currentRate)}</span>`],
  ];
  const series = history.map((run) => ({ at: run.at, value: run.scores[f.name] ?? null }));
  const summary = f.summary ? `<p>mean ${fmt(f.summary.baseline.mean, 3)} → ${fmt(f.summary.current.mean, 3)} · std ${fmt(f.summary.baseline.std, 3)} → ${fmt(f.summary.current.std, 3)} · range ${fmt(f.summary.current.min, 3)}…${fmt(f.summary.current.max, 3)}</p>` : '';
  const charts = `<div class="charts"><figure>${histogramSvg(f.histogram, `${f.name}: baseline against current`)}<figcaption>Distribution: share per ${f.histogram.type === 'bins' ? 'bin' : 'level'}</figcaption></figure>${
    series.length ? `<figure>${seriesSvg([...series, { at: 'now', value: score }], 1, `${f.name}: drift score over runs`)}<figcaption>Drift score (effect ÷ threshold) over the last ${series.length + 1} runs</figcaption></figure>` : ''
  }</div>`;
  return `<tr class="feature" data-name="${esc(f.name.toLowerCase())}">${cells.map(([key, html]) => `<td data-key="${esc(key!)}">${html}</td>`).join('')}</tr><tr class="detail"><td colspan="${COLUMNS.length}"><details><summary>charts</summary>${summary}${charts}</details></td></tr>`;
}

function predictionSection(report: DriftReport): string {
  const p = report.prediction;
  if (!p) return '';
  const shares = p.classShares;
  const shareTable = shares
    ? `<p>Class shares: ${esc(shares.test)}, p = ${fmt(shares.pValue)} (adjusted ${fmt(shares.adjustedPValue)}), verdict ${esc(shares.verdict.replace('_', ' '))}</p>`
    : '';
  return `<h2 id="predictions">Predictions</h2>
<p>Verdict: <span class="${p.verdict === 'drift' ? 'drift' : p.verdict}">${esc(p.verdict.replace('_', ' '))}</span> · score KS ${fmt(p.score.statistic)}, p = ${fmt(p.score.adjustedPValue)}, PSI ${fmt(p.score.psi)} (warn ${p.score.thresholds.warn}, alert ${p.score.thresholds.alert})</p>
${shareTable}<figure>${histogramSvg(p.score.histogram, 'prediction score: baseline against current')}<figcaption>${p.kind === 'classification' ? 'Top-class probability' : 'Predicted value'}</figcaption></figure>`;
}

/** The joint-structure test beside the per-feature verdicts (outside the alarm: see core/drift/multivariate.ts). */
function multivariateSection(report: DriftReport): string {
  const m = report.multivariate;
  if (!m) return '';
  const verdict = m.verdict === 'insufficient_data' ? `insufficient data (${m.rows} complete rows)` : m.verdict.replace('_', ' ');
  return `<h2 id="multivariate">Multivariate (PCA reconstruction, not part of the alarm)</h2>
<p>${m.features.length} numeric features, ${m.components} components (${fmt(m.varianceExplained * 100, 1)}% of the variance) · mean reconstruction error ${fmt(m.currentError, 3)} on ${m.rows} rows against ${fmt(m.baselineError, 3)} · P(a row's error exceeds a baseline row's) ${fmt(m.probabilityHigher, 3)} (drift above ${fmt(m.threshold, 3)}), p = ${fmt(m.pValue)} at α = ${m.alpha} · <span class="${m.verdict}">${esc(verdict)}</span></p>`;
}

function qualitySection(report: DriftReport): string {
  const q = report.quality;
  if (!q) return '';
  const rows = q.metrics.map((m) => `<tr><td>${esc(m.name)}</td><td>${fmt(m.baseline)}</td><td>${fmt(m.current)}</td><td>${fmt(m.change)}</td><td>${esc(m.test)}</td><td>${fmt(m.pValue)}</td><td>${fmt(m.threshold, 3)}</td><td class="${m.verdict === 'degraded' ? 'drift' : m.verdict}">${esc(m.verdict.replace('_', ' '))}</td></tr>`).join('');
  const e = q.estimated;
  const estimated = e
    ? `<p>Without labels (CBPE${e.calibrated ? ', calibrated' : ', uncalibrated'}): estimated accuracy ${fmt(e.estimate, 3)} ± ${fmt(e.standardError, 3)} against ${fmt(e.reference, 3)} · <span class="${e.alarm ? 'drift' : ''}">${esc(e.verdict.replace('_', ' '))}</span></p>${
        (e.chunks ?? []).length > 1
          ? `<table class="chunks"><thead><tr><th>chunk</th><th>rows</th><th>estimate (band)</th><th>baseline band</th><th></th></tr></thead><tbody>${e.chunks
              .map((c, i) => `<tr><td>${i + 1}</td><td>${c.rows}</td><td>${fmt(c.estimate, 3)} (${fmt(c.lower, 3)}–${fmt(c.upper, 3)})</td><td>${fmt(c.baselineLower, 3)}–${fmt(c.baselineUpper, 3)}</td><td class="${c.alarm ? 'drift' : ''}">${c.alarm ? 'below the baseline band' : ''}</td></tr>`)
              .join('')}</tbody></table>`
          : ''
      }`
    : '';
  return `<h2 id="quality">Model quality</h2><p>${q.labeledRows} labelled rows</p>
${q.metrics.length ? `<table class="metrics"><thead><tr><th>metric</th><th>baseline</th><th>current</th><th>change</th><th>test</th><th>p</th><th>threshold</th><th>verdict</th></tr></thead><tbody>${rows}</tbody></table>` : ''}
${estimated}${periodsTable((q as { periods?: unknown }).periods)}`;
}

/** Quality per period, when the report has it: one row per period, one column per plain field. */
function periodsTable(periods: unknown): string {
  if (!Array.isArray(periods) || periods.length === 0) return '';
  const flat = periods.map((p) => Object.fromEntries(Object.entries(p as Record<string, unknown>).filter(([, v]) => typeof v !== 'object' || v === null)));
  const keys = [...new Set(flat.flatMap((p) => Object.keys(p)))];
  const cell = (v: unknown) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : tick(v)) : esc(String(v ?? '–')));
  return `<h3>Per period</h3><table class="periods"><thead><tr>${keys.map((k) => `<th>${esc(k)}</th>`).join('')}</tr></thead><tbody>${flat.map((p) => `<tr>${keys.map((k) => `<td>${cell(p[k])}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

const STYLE = `body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1d2330;max-width:1100px}table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #e4e7ec;padding:6px 8px;text-align:left;vertical-align:top}
th{color:#667085;font-size:12px;cursor:pointer;user-select:none}th[aria-sort=ascending]::after{content:" ▲"}th[aria-sort=descending]::after{content:" ▼"}.meta{color:#667085}
.drift{color:#b42318;font-weight:600}.no_drift{color:#067647}.insufficient_data{color:#667085}.banner{padding:10px 14px;border-radius:6px;font-weight:600;background:#ecfdf3}.banner.drift{background:#fef3f2}.banner.insufficient_data{background:#f2f4f7}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}.card{border:1px solid #e4e7ec;border-radius:8px;padding:10px 14px;min-width:180px}.card .label{color:#667085;font-size:12px}.card .value{font-size:22px;font-weight:600}.card .note{color:#667085;font-size:12px}.card.drift .value{color:#b42318}
.legend i{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}.charts{display:flex;gap:16px;flex-wrap:wrap}figure{margin:0}figcaption{color:#667085;font-size:12px}.axis{font-size:9px;fill:#667085}
tr.detail td{border-bottom:1px solid #e4e7ec;padding-top:0}tr.detail summary{color:#3056d3;cursor:pointer;font-size:12px}input[type=search]{padding:4px 8px;width:260px}`;

/** Sorting by a column (numbers as numbers, blanks last) and filtering by name; each feature row keeps its detail row under it. */
const SCRIPT = `(()=>{const t=document.getElementById('features'),b=t.tBodies[0];const pairs=()=>[...b.querySelectorAll('tr.feature')].map(r=>[r,r.nextElementSibling]);
t.tHead.querySelectorAll('th').forEach(th=>{const sort=()=>{const i=+th.dataset.column,num=th.dataset.type==='number',asc=th.getAttribute('aria-sort')!=='ascending';
t.tHead.querySelectorAll('th').forEach(o=>o.removeAttribute('aria-sort'));th.setAttribute('aria-sort',asc?'ascending':'descending');
const key=r=>r.cells[i].dataset.key;const rows=pairs().sort(([a],[c])=>{const x=key(a),y=key(c);if(num){if(x===''||y==='')return (x==='')-(y==='');return (asc?1:-1)*(x-y)}return (asc?1:-1)*x.localeCompare(y)});
rows.forEach(([r,d])=>{b.appendChild(r);b.appendChild(d)})};th.addEventListener('click',sort);th.addEventListener('keydown',e=>{if(e.key==='Enter')sort()})});
document.getElementById('filter').addEventListener('input',e=>{const q=e.target.value.trim().toLowerCase();pairs().forEach(([r,d])=>{const hide=q!==''&&!r.dataset.name.includes(q);r.hidden=hide;d.hidden=hide})})})();`;
