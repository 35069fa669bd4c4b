import { PutObjectCommand } from '@aws-sdk/client-s3';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureKey, toCaptureRecords } from '../../core/capture/capture';
import { encodeRow } from '../../core/data/coerce';
import { Predictor } from '../../core/model/predictor';
import { LOCAL_BUCKETS, type RunningPlatform, startPlatform } from '../../local/platform';
import { generatedHeader, generateRows } from '../../model-pipeline/data/generate';
import { CHROMIUM_ARGS, ensureChromium } from '../helpers/browser';
import { churnInstance } from '../helpers/demo-package';
import { useTempDir } from '../helpers/tmp';

/** The dashboard in a real browser: models, a batch job and a drift report chart are rendered. */

const tmp = useTempDir();
const browserPath = ensureChromium();
let platform: RunningPlatform;
let browser: Browser;

describe.skipIf('reason' in browserPath)(`the dashboard in Chromium${'reason' in browserPath ? ` (skipped: ${browserPath.reason})` : ''}`, { timeout: 180_000 }, () => {
  beforeAll(async () => {
    platform = await startPlatform({ home: tmp.path, port: 0, s3Port: 0, monitorSeconds: 0 }, () => {});
    for (let i = 0; i < 5; i++) {
      await fetch(`${platform.apiUrl}/models/demo/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ instances: [churnInstance] }) });
    }
    const header = generatedHeader();
    const csv = [header.join(','), ...[...generateRows({ rows: 300, seed: 4 })].map((r) => r.cells.join(','))].join('\n');
    await platform.s3.client.send(new PutObjectCommand({ Bucket: LOCAL_BUCKETS.data, Key: 'batch/input/demo/browser.csv', Body: csv }));
    // Enough drifted capture for one report.
    const predictor = await Predictor.create(await platform.engine.repository.load('demo', '1.0.0'));
    const features = predictor.manifest.input.features;
    const x = new Float32Array(600 * features.length);
    [...generateRows({ rows: 600, seed: 5, drift: { meanShift: { tenure_months: 0.8 } } })].forEach((row, r) => encodeRow(features, (name) => row.cells[header.indexOf(name)], x, r * features.length));
    const matrix = { data: x, rows: 600, cols: features.length };
    const records = toCaptureRecords(predictor.manifest, matrix, await predictor.predict(matrix), 'browser', 1, new Date());
    await predictor.release();
    await platform.s3.client.send(new PutObjectCommand({ Bucket: LOCAL_BUCKETS.data, Key: captureKey('demo', '1.0.0', new Date()), Body: records.map((r) => JSON.stringify(r)).join('\n') }));
    for (let i = 0; i < 100; i++) {
      await platform.batch.idle();
      if (platform.batch.outcomes.length) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await platform.capture.flush();
    await platform.monitor.runOnce();
    browser = await chromium.launch({ executablePath: (browserPath as { path: string }).path, args: CHROMIUM_ARGS });
  });

  afterAll(async () => {
    await browser?.close();
    await platform?.stop();
  });

  it('shows the models, the batch job and a drift chart', async () => {
    const page = await browser.newPage();
    await page.goto(`${platform.apiUrl}/`);
    await page.waitForSelector('#models table');
    expect(await page.textContent('#models')).toContain('demo');
    await page.waitForSelector('#batch table');
    expect(await page.textContent('#batch')).toContain('batch/input/demo/browser.csv');
    await page.waitForSelector('#reports table');
    expect(await page.textContent('#reports')).toMatch(/drift/);
    await page.waitForSelector('#drift-charts canvas');
    expect(await page.locator('#drift-charts canvas').count()).toBeGreaterThan(0);
    // Every report is linked, its HTML page included.
    expect(await page.locator('#all-reports li a[href$=".html"]').count()).toBe(1);
    // Chart.js drew the traffic chart: its canvas has a size.
    const box = await page.locator('#traffic').boundingBox();
    expect(box?.width).toBeGreaterThan(100);
    await page.close();
  });
});
