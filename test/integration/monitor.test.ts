import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureKey, toCaptureRecords } from '../../core/capture/capture';
import { encodeRow } from '../../core/data/coerce';
import { DataPrefixes } from '../../core/layout';
import { runMonitor } from '../../core/monitor/monitor';
import { Predictor } from '../../core/model/predictor';
import { ModelRepository } from '../../core/model/registry';
import { S3BlobStore } from '../../functions/shared/s3-blob-store';
import { ensureDemoModel } from '../../local/bootstrap';
import { type EmbeddedS3, startEmbeddedS3 } from '../../local/embedded-s3';
import { type DriftSpec, generatedHeader, generateRows } from '../../model-pipeline/data/generate';
import { useTempDir } from '../helpers/tmp';

/** The drift monitor over captured traffic in a real S3 API (embedded), with the demo model's baseline. */

const tmp = useTempDir();
let s3: EmbeddedS3;
let models: ModelRepository;
let data: S3BlobStore;
let predictor: Predictor;
let clock = Date.parse('2026-11-23T08:00:00Z');
const deps = () => ({ models, data, now: () => new Date(clock), options: { cooldownHours: 24 } });

beforeAll(async () => {
  s3 = await startEmbeddedS3({ directory: tmp.file('s3'), port: 0, buckets: ['models', 'data'] });
  models = new ModelRepository(new S3BlobStore(s3.client, 'models'));
  data = new S3BlobStore(s3.client, 'data');
  await ensureDemoModel(models, data, tmp.file('work'));
  predictor = await Predictor.create(await models.load('demo', '1.0.0'));
});

afterAll(async () => {
  await predictor?.release();
  await s3?.close();
});

/** Scores generated rows with the served model and writes them as one capture object, as the API would. */
async function capture(rows: number, seed: number, drift: DriftSpec = {}, garbage: string[] = []): Promise<void> {
  const features = predictor.manifest.input.features;
  const header = generatedHeader();
  const x = new Float32Array(rows * features.length);
  [...generateRows({ rows, seed, drift })].forEach((row, r) => encodeRow(features, (name) => row.cells[header.indexOf(name)], x, r * features.length));
  const matrix = { data: x, rows, cols: features.length };
  const records = toCaptureRecords(predictor.manifest, matrix, await predictor.predict(matrix), `req-${seed}`, 1, new Date(clock));
  clock += 60_000;
  const lines = [...records.map((r) => JSON.stringify(r)), ...garbage];
  await data.write(captureKey('demo', '1.0.0', new Date(clock)), `${lines.join('\n')}\n`);
}

describe('the drift monitor', { timeout: 120_000 }, () => {
  it('waits while there is too little traffic, without moving its watermark', async () => {
    await capture(100, 1);
    const outcome = await runMonitor(deps(), 'demo');
    expect(outcome).toMatchObject({ status: 'waiting', rows: 100 });
  });

  it('reports no drift on traffic like the training data, as JSON and HTML', async () => {
    await capture(1000, 2);
    clock += 3_600_000;
    const outcome = await runMonitor(deps(), 'demo');
    expect(outcome).toMatchObject({ status: 'reported', rows: 1100, alert: false, confirmed: false, trigger: null });
    if (outcome.status !== 'reported') return;
    const json = JSON.parse(new TextDecoder().decode(await data.read(outcome.reportKey)));
    expect(json).toMatchObject({ model: 'demo', version: '1.0.0', dataset: { alert: false } });
    const html = new TextDecoder().decode(await data.read(outcome.htmlKey));
    expect(html).toContain('NO DRIFT');
    // Self-contained: its few lines of script are inline, nothing is loaded from elsewhere.
    expect(html).not.toMatch(/<script[^>]*\ssrc=|https?:\/\//);
  });

  it('names the drifted feature, and only it, when one feature shifts', async () => {
    await capture(1000, 3, { meanShift: { tenure_months: 0.8 } });
    clock += 3_600_000;
    const outcome = await runMonitor(deps(), 'demo');
    expect(outcome.status === 'reported' && outcome.report.dataset.driftedFeatures).toEqual(['tenure_months']);
    expect(outcome).toMatchObject({ alert: true, confirmed: false, trigger: null });
  });

  it('confirms drift on the second alerting run and triggers retraining once', async () => {
    await capture(1000, 4, { meanShift: { tenure_months: 0.8 } });
    clock += 3_600_000;
    const outcome = await runMonitor(deps(), 'demo');
    expect(outcome).toMatchObject({ alert: true, confirmed: true, trigger: { id: expect.stringMatching(/^drift-demo-/), reason: expect.stringContaining('tenure_months') } });
  });

  it("shows each feature's drift score over the earlier runs in its report", async () => {
    const reports = (await data.list(`${DataPrefixes.reports}demo/`)).filter((k) => k.endsWith('.html'));
    const html = new TextDecoder().decode(await data.read(reports.at(-1)!));
    const chart = /<tr class="feature" data-name="tenure_months">[\s\S]*?drift score over runs[\s\S]*?<\/svg>/.exec(html)?.[0] ?? '';

    // The two runs before this one and this one.
    expect(chart.match(/<circle/g)).toHaveLength(3);
  });

  it('does not trigger again within the cooldown', async () => {
    for (const seed of [5, 6]) {
      await capture(1000, seed, { meanShift: { tenure_months: 0.8 } });
      clock += 3_600_000;
      const outcome = await runMonitor(deps(), 'demo');
      expect(outcome).toMatchObject({ alert: true, trigger: null });
    }
  });

  it('counts and skips garbage capture lines, and says how many in the report', async () => {
    const other = JSON.stringify({ v: 1, requestId: 'x', row: 0, ts: '2026-11-23T00:00:00Z', model: 'demo', version: '0.9.0', features: {}, prediction: {}, latencyMs: 1 });
    await capture(300, 7, {}, ['{"v":1,"model":"demo"', other, '{"v":1,"model":"demo","version":"1.0.0","prediction":{}}', '[]']);
    clock += 3_600_000;
    const outcome = await runMonitor(deps(), 'demo');
    expect(outcome.status === 'reported' && outcome.skipped).toMatchObject({ invalid_json: 1, other_model_or_version: 1, missing_feature: 1, not_a_record: 1 });
    const html = new TextDecoder().decode(await data.read((outcome as { htmlKey: string }).htmlKey));
    expect(html).toMatch(/Skipped capture lines: invalid_json 1/);
    expect((await data.list(`${DataPrefixes.reports}demo/`)).length).toBeGreaterThanOrEqual(10);
  });

  it('reads a capture object that arrives late, under a key older than the ones already read', async () => {
    const now = clock;
    clock -= 5 * 60_000;
    await capture(300, 8);
    clock = now + 60_000;
    const outcome = await runMonitor(deps(), 'demo');
    expect(outcome).toMatchObject({ status: 'reported', rows: 300 });
  });

  it('joins late labels to captured predictions by request id and raises a quality alarm', async () => {
    const rows = [...generateRows({ rows: 1000, seed: 9, drift: { concept: 1 } })];
    await capture(1000, 9, { concept: 1 });
    const labels = rows.map((r, i) => JSON.stringify({ requestId: 'req-9', row: i, label: r.cells.at(-1) }));
    // Garbage beside the good lines: truncated JSON, a missing label, an unknown class; they are ignored.
    const garbage = ['{"requestId": "req-9", "row"', '{"requestId": "req-9", "row": 2000}', '{"requestId": "req-9", "row": 3000, "label": "maybe"}'];
    await data.write(`${DataPrefixes.labels}demo/ground-truth/batch-1.jsonl`, [...labels, ...garbage].join('\n'));
    clock += 3_600_000;
    const outcome = await runMonitor(deps(), 'demo');
    expect(outcome.status).toBe('reported');
    if (outcome.status !== 'reported') return;
    expect(outcome.report.quality?.labeledRows).toBe(1000);
    expect(outcome.report.quality?.metrics.find((m) => m.name === 'accuracy')).toMatchObject({ verdict: 'degraded' });
    expect(outcome).toMatchObject({ alert: true, qualityAlarm: true });
  });

  it('assesses a window under minRows once its oldest capture has waited maxWaitHours', async () => {
    await capture(100, 10);
    clock += 3_600_000;
    expect(await runMonitor(deps(), 'demo')).toMatchObject({ status: 'waiting', rows: 100, reason: expect.stringContaining('24 h after the oldest') });
    // A day after the oldest unread capture, the same 100 rows are judged rather than kept waiting.
    clock += 23 * 3_600_000;
    expect(await runMonitor(deps(), 'demo')).toMatchObject({ status: 'reported', rows: 100 });
  });
});
