import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { type RunningPlatform, LOCAL_BUCKETS, startPlatform } from '../../local/platform';
import { generatedHeader, generateRows } from '../../model-pipeline/data/generate';
import { churnInstance } from '../helpers/demo-package';
import { useTempDir } from '../helpers/tmp';
import { freePort } from '../helpers/ports';

/** The one-machine platform as `npm start` runs it: embedded S3, API, batch watcher, restart. */

const tmp = useTempDir();
let platform: RunningPlatform | undefined;

afterAll(async () => {
  await platform?.stop();
});

describe('the local platform', { timeout: 120_000 }, () => {
  let s3Port: number;

  it('bootstraps the demo model into the embedded S3 and serves it over HTTP', async () => {
    s3Port = await freePort();
    platform = await startPlatform({ home: tmp.path, port: 0, s3Port }, () => {});
    const response = await fetch(`${platform.apiUrl}/models/demo/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ instances: [churnInstance] }) });
    expect(response.status).toBe(200);
  });

  it('scores a file dropped into batch/input/ through the S3 API', async () => {
    const csv = [generatedHeader().join(','), ...[...generateRows({ rows: 200, seed: 2 })].map((r) => r.cells.join(','))].join('\n');
    await platform!.s3.client.send(new PutObjectCommand({ Bucket: LOCAL_BUCKETS.data, Key: 'batch/input/demo/dropped.csv', Body: csv }));
    let manifest: Record<string, unknown> | undefined;
    for (let i = 0; i < 100 && !manifest; i++) {
      await new Promise((r) => setTimeout(r, 100));
      await platform!.batch.idle();
      manifest = await platform!.s3.client
        .send(new GetObjectCommand({ Bucket: LOCAL_BUCKETS.data, Key: 'batch/manifests/demo/dropped.csv.manifest.json' }))
        .then(async (r) => JSON.parse(await r.Body!.transformToString()))
        .catch(() => undefined);
    }
    expect(manifest).toMatchObject({ status: 'succeeded', rowsIn: 200, scored: 200, rejected: 0 });
  });

  it('keeps models and batch results across a restart', async () => {
    await platform!.stop();
    platform = await startPlatform({ home: tmp.path, port: 0, s3Port }, () => {});
    const manifest = await platform.s3.client.send(new GetObjectCommand({ Bucket: LOCAL_BUCKETS.data, Key: 'batch/manifests/demo/dropped.csv.manifest.json' }));
    expect(JSON.parse(await manifest.Body!.transformToString())).toMatchObject({ scored: 200 });
    const response = await fetch(`${platform.apiUrl}/v2/models/demo`);
    expect(response.status).toBe(200);
  });
});

describe('the dashboard', { timeout: 60_000 }, () => {
  it('serves the page and Chart.js from the local server, with no CDN', async () => {
    const page = await (await fetch(`${platform!.apiUrl}/`)).text();
    expect(page).toContain('<script src="/assets/chart.js"></script>');
    expect(page).not.toMatch(/https?:\/\/(?!127\.0\.0\.1)/);
    const script = await fetch(`${platform!.apiUrl}/assets/chart.js`);
    expect(script.status).toBe(200);
    expect(await script.text()).toContain('Chart');
  });

  it('reports models, batch jobs and live traffic in one overview', async () => {
    await fetch(`${platform!.apiUrl}/models/demo/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ instances: [churnInstance] }) });
    const overview = (await (await fetch(`${platform!.apiUrl}/api/overview`)).json()) as Record<string, any>;
    expect(overview.models[0]).toMatchObject({ name: 'demo', serving: '1.0.0', versions: [{ version: '1.0.0', status: 'serving' }] });
    expect(overview.batchJobs).toContainEqual(expect.objectContaining({ key: 'batch/manifests/demo/dropped.csv.manifest.json', scored: 200 }));
    expect(overview.traffic.reduce((sum: number, p: { requests: number }) => sum + p.requests, 0)).toBeGreaterThan(0);
    expect(overview.models[0].canary).toBeNull();
    expect(overview.versionTraffic).toContainEqual(expect.objectContaining({ model: 'demo', version: '1.0.0', requests: expect.any(Number), errors: 0 }));
  });

  it('lets batch outputs be downloaded, and nothing outside the batch and report prefixes', async () => {
    const output = await fetch(`${platform!.apiUrl}/files/${encodeURIComponent('batch/output/demo/dropped.csv.predictions.csv')}`);
    expect(output.status).toBe(200);
    expect((await output.text()).split('\n')[0]).toBe('line,customer_id,churned,prediction,prob_no,prob_yes');
    expect((await fetch(`${platform!.apiUrl}/files/${encodeURIComponent('batch/input/demo/dropped.csv')}`)).status).toBe(404);
  });
});
