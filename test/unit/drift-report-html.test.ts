import { beforeAll, describe, expect, it } from 'vitest';
import type { DriftReport } from '../../core/drift/report';
import { renderReportHtml } from '../../core/monitor/report-html';
import { historyRun } from '../../core/monitor/report-history';
import { demoReports } from '../helpers/drift-report';
import { useTempDir } from '../helpers/tmp';

/** The HTML drift report is one self-contained page: nothing fetched, small, and every part of the verdict on it. */

const tmp = useTempDir();
let calm: DriftReport;
let drifted: DriftReport;
const context = { model: 'demo', version: '1.0.0', createdAt: '2026-12-03T08:00:00.000Z', window: 'test window' };

beforeAll(async () => {
  [calm, drifted] = (await demoReports(tmp.path, [
    { rows: 1_000, seed: 7 },
    { rows: 1_000, seed: 8, drift: { meanShift: { tenure_months: 1 } } },
  ])) as [DriftReport, DriftReport];
});

describe('the HTML drift report', () => {
  it('loads nothing from elsewhere: no external script, style, image or font', () => {
    const html = renderReportHtml(drifted, context);

    expect(html).not.toMatch(/\b(src|href)=["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/@import|url\(/);
  });

  it('states the one verdict, naming the drifted feature', () => {
    const html = renderReportHtml(drifted, context);

    expect(html).toMatch(/<p class="banner drift" id="verdict">DRIFT: data drift in [^<]*tenure_months/);
  });

  it('lists drifted features first', () => {
    const html = renderReportHtml(drifted, context);

    expect(/<tr class="feature" data-name="([^"]+)"/.exec(html)?.[1]).toBe('tenure_months');
  });

  it('stays under 1 MB for 30 features with 30 runs of history', () => {
    const features = Array.from({ length: 30 }, (_, i) => ({ ...drifted.features[i % drifted.features.length]!, name: `feature_${i}` }));
    const wide = { ...drifted, features };
    const history = Array.from({ length: 30 }, (_, i) => historyRun(i % 2 ? calm : wide, `2026-11-${String(i + 1).padStart(2, '0')}T00:00:00Z`));

    const html = renderReportHtml(wide, { ...context, history });

    expect(Buffer.byteLength(html)).toBeLessThan(1 << 20);
  });

  it('escapes names and values that carry markup', () => {
    const hostile = { ...calm, features: calm.features.map((f, i) => (i === 0 ? { ...f, name: '<img src=x onerror=alert(1)>' } : f)) };

    expect(renderReportHtml(hostile, context)).not.toContain('<img src=x');
  });

  it('shows the multivariate test beside the features, outside the alarm', () => {
    const html = renderReportHtml(calm, context);

    expect(calm.multivariate).not.toBeNull();
    expect(html).toMatch(/<h2 id="multivariate">Multivariate \(PCA reconstruction, not part of the alarm\)<\/h2>/);
    expect(html).toContain(`on ${calm.multivariate!.rows} rows`);
  });
});
