import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningPlatform, startPlatform } from '../../local/platform';
import { CHROMIUM_ARGS, ensureChromium } from '../helpers/browser';
import { useTempDir } from '../helpers/tmp';

/** The dashboard's LLM panel in a real browser: p50/p95/p99 of time to first token and tokens/s after generations on the local route. */

const tmp = useTempDir('mlops-llm-browser-');
const browserPath = ensureChromium();
let platform: RunningPlatform;
let browser: Browser;

describe.skipIf('reason' in browserPath)(`the LLM panel in Chromium${'reason' in browserPath ? ` (skipped: ${browserPath.reason})` : ''}`, { timeout: 180_000 }, () => {
  beforeAll(async () => {
    platform = await startPlatform({ home: tmp.path, port: 0, s3Port: 0, monitorSeconds: 0 }, () => {});
    await Promise.all(
      ['one', 'two', 'three'].map(async (prompt) => {
        const response = await fetch(`${platform.apiUrl}/llm/stand-in/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt, max_new_tokens: 6 }) });
        await response.text();
      }),
    );
    browser = await chromium.launch({ executablePath: (browserPath as { path: string }).path, args: CHROMIUM_ARGS });
  });

  afterAll(async () => {
    await browser?.close();
    await platform?.stop();
  });

  it('shows the percentiles of time to first token and tokens/s of the stand-in model', async () => {
    const page = await browser.newPage();
    await page.goto(`${platform.apiUrl}/`);
    await page.waitForSelector('#llm table');

    const headers = await page.locator('#llm th').allTextContents();
    const cells = await page.locator('#llm tbody td').allTextContents();
    expect(headers).toEqual(['model', 'generations', 'failed', 'tokens', 'TTFT p50', 'p95', 'p99', 'tokens/s p50', 'p95', 'p99']);
    expect(cells.slice(0, 4)).toEqual(['stand-in', '3', '0', '18']);
    for (const ttft of cells.slice(4, 7)) expect(ttft).toMatch(/^\d+ ms$/);
    for (const rate of cells.slice(7, 10)) expect(rate).toMatch(/^\d+\.\d$/);
    await page.close();
  });
});
