import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderReportHtml } from '../../core/monitor/report-html';
import { historyRun } from '../../core/monitor/report-history';
import { CHROMIUM_ARGS, ensureChromium } from '../helpers/browser';
import { demoReports } from '../helpers/drift-report';
import { useTempDir } from '../helpers/tmp';

/** The HTML drift report in a real browser, offline: what an on-call engineer sees and can do with it. */

const tmp = useTempDir();
const browserPath = ensureChromium();
let browser: Browser;
let page: Page;

describe.skipIf('reason' in browserPath)(`the drift report in Chromium${'reason' in browserPath ? ` (skipped: ${browserPath.reason})` : ''}`, { timeout: 120_000 }, () => {
  beforeAll(async () => {
    const [calm, earlier, drifted] = await demoReports(tmp.path, [
      { rows: 1_000, seed: 7 },
      { rows: 1_000, seed: 9, drift: { meanShift: { tenure_months: 0.5 } } },
      { rows: 1_000, seed: 8, drift: { meanShift: { tenure_months: 1 } } },
    ]);
    const history = [historyRun(calm!, '2026-12-01T08:00:00Z'), historyRun(earlier!, '2026-12-02T08:00:00Z')];
    const html = renderReportHtml(drifted!, { model: 'demo', version: '1.0.0', createdAt: '2026-12-03T08:00:00Z', window: '3 capture objects', history });
    browser = await chromium.launch({ executablePath: (browserPath as { path: string }).path, args: CHROMIUM_ARGS });
    page = await browser.newPage();
    // Offline: any request the page made would fail this test.
    const requests: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    await page.setContent(html);
    expect(requests).toEqual([]);
  });

  afterAll(async () => {
    await browser?.close();
  });

  const names = () => page.$$eval('tr.feature:not([hidden])', (rows) => rows.map((r) => r.getAttribute('data-name')));

  it('leads with the verdict and summary cards', async () => {
    expect(await page.textContent('#verdict')).toMatch(/^DRIFT: data drift in .*tenure_months/);
    expect(await page.textContent('#card-verdict')).toContain('DRIFT');
    expect(await page.textContent('#card-rows')).toContain('1,000');
    expect(await page.textContent('#card-drifted')).toContain('tenure_months');
  });

  it('lists the drifted feature first', async () => {
    expect((await names())[0]).toBe('tenure_months');
  });

  it('sorts the table by a column when its header is clicked, and back', async () => {
    await page.click('th[data-column="0"]');
    const ascending = await names();
    expect(ascending).toEqual([...ascending].sort());
    await page.click('th[data-column="0"]');
    expect(await names()).toEqual([...ascending].reverse());
  });

  it('filters the features by name', async () => {
    await page.fill('#filter', 'inc');
    expect(await names()).toEqual(['income']);
    await page.fill('#filter', '');
    expect((await names()).length).toBeGreaterThan(5);
  });

  it("opens a feature's distribution with axes and bin edges, and its drift score over runs", async () => {
    const detail = page.locator('tr.feature[data-name="tenure_months"] + tr.detail');
    await detail.locator('summary').click();
    const charts = detail.locator('svg.chart');
    expect(await charts.count()).toBe(2);
    const histogram = (await charts.nth(0).textContent()) ?? '';
    expect(histogram).toMatch(/%/);
    expect(histogram).toMatch(/\d–\d/);
    expect(await charts.nth(0).locator('rect').count()).toBeGreaterThan(4);
    expect(await charts.nth(1).locator('circle').count()).toBe(3);
  });

  it('shows the predictions as a chart', async () => {
    expect(await page.locator('#predictions').count()).toBe(1);
    expect(await page.locator('#predictions ~ figure svg.chart').count()).toBeGreaterThan(0);
  });
});
