import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureKey, toCaptureRecords } from '../../core/capture/capture';
import { encodeRow } from '../../core/data/coerce';
import { DataPrefixes } from '../../core/layout';
import { type BlobStore, DirectoryStore } from '../../core/model/blob-store';
import type { ModelPackage } from '../../core/model/model-package';
import { Predictor } from '../../core/model/predictor';
import { StaticModelSource } from '../../core/model/registry';
import { type MonitorOptions, runMonitor } from '../../core/monitor/monitor';
import { Random } from '../../core/random';
import { type DriftSpec, generatedHeader, generatedSchema, generateRows } from '../../model-pipeline/data/generate';
import { trainPackage } from '../../model-pipeline/train/train-package';
import { trainDemoPackage } from '../helpers/demo-package';
import { useTempDir } from '../helpers/tmp';

/**
 * Late labels: ground truth that arrives after the run that read its predictions is joined by a
 * later run through the prediction index, counted once, within the label window; the quality
 * tests count the baseline's own sampling error. Real trained packages, a DirectoryStore bucket.
 */

type Row = Readonly<Record<string, string>>;

const tmp = useTempDir();
const DAY = 86_400_000;
const packages = new Map<string, { pkg: ModelPackage; predictor: Predictor }>();
let data: DirectoryStore;
let models: StaticModelSource;

/** Churn rows as generated, by column name (the label column too). */
function churnRows(rows: number, seed: number, drift: DriftSpec = {}): Row[] {
  const header = generatedHeader();
  return [...generateRows({ rows, seed, drift })].map((r) => Object.fromEntries(header.map((name, i) => [name, r.cells[i]!])));
}

/** Churn features with a label the features nearly decide: "yes" below 24 months of tenure, 3% of labels flipped. */
function ruleRows(rows: number, seed: number): Row[] {
  const flips = new Random(seed + 1000);
  return churnRows(rows, seed).map((row) => ({ ...row, churned: (Number(row.tenure_months) < 24) !== flips.next() < 0.03 ? 'yes' : 'no' }));
}

/** Churn features with a numeric target: lifetime value = 2 × tenure + monthly spend / 2 (+ slope × tenure under drift) + noise. */
function valueRows(rows: number, seed: number, slope = 0): Row[] {
  const noise = new Random(seed + 2000);
  return churnRows(rows, seed).map(({ churned: _unused, ...row }) => ({ ...row, lifetime_value: ((2 + slope) * Number(row.tenure_months) + Number(row.monthly_spend) / 2 + 4 * noise.normal()).toFixed(2) }));
}

async function trainOn(name: string, rows: Row[], label: string, options: { validationShare?: number; model?: 'logreg' | 'mlp'; epochs?: number } = {}): Promise<ModelPackage> {
  const file = tmp.file(`${name}.csv`);
  const header = Object.keys(rows[0]!).filter((column) => column !== 'customer_id');
  await writeFile(file, [header.join(','), ...rows.map((row) => header.map((column) => row[column]).join(','))].join('\n'));
  const { pkg } = await trainPackage(new DirectoryStore(tmp.file(name)), { data: file, label, name, epochs: options.epochs ?? 15, ...options });
  return pkg;
}

/** Scores rows with the model and writes them as one capture object made at `at`, as the API would. */
async function capture(model: string, rows: Row[], requestId: string, at: number): Promise<void> {
  const { pkg, predictor } = packages.get(model)!;
  const features = pkg.manifest.input.features;
  const x = new Float32Array(rows.length * features.length);
  rows.forEach((row, r) => encodeRow(features, (name) => row[name], x, r * features.length));
  const matrix = { data: x, rows: rows.length, cols: features.length };
  const records = toCaptureRecords(pkg.manifest, matrix, await predictor.predict(matrix), requestId, 1, new Date(at));
  await data.write(captureKey(model, pkg.manifest.version, new Date(at)), `${records.map((r) => JSON.stringify(r)).join('\n')}\n`);
}

/** Writes the ground truth of a request's rows (the label column of each), as the data team would. */
async function label(model: string, file: string, requestId: string, rows: Row[], column: string): Promise<void> {
  const lines = rows.map((row, i) => JSON.stringify({ requestId, row: i, label: column === 'lifetime_value' ? Number(row[column]) : row[column] }));
  await data.write(`${DataPrefixes.labels}${model}/ground-truth/${file}`, `${lines.join('\n')}\n`);
}

async function monitorAt(model: string, at: number, options: MonitorOptions = {}, store: BlobStore = data) {
  return runMonitor({ models, data: store, now: () => new Date(at), options: { lateArrivalSeconds: 0, ...options } }, model);
}

async function indexLines(model: string): Promise<string[]> {
  const keys = await data.list(`${DataPrefixes.predictionIndex}${model}/1.0.0/`);
  const texts = await Promise.all(keys.map(async (key) => new TextDecoder().decode(await data.read(key))));
  return texts.flatMap((text) => text.split('\n').filter(Boolean));
}

const metric = (outcome: Awaited<ReturnType<typeof monitorAt>>, name: string) => (outcome.status === 'reported' ? outcome.report.quality?.metrics.find((m) => m.name === name) : undefined);

beforeAll(async () => {
  data = new DirectoryStore(tmp.file('data'));
  const trained = [
    await trainDemoPackage(tmp.path, { name: 'churn' }),
    await trainDemoPackage(tmp.path, { name: 'aged', seed: 2 }),
    await trainDemoPackage(tmp.path, { name: 'retry', seed: 3 }),
    // 60 validation rows, all right: a real model that is right about 96% of the time (seed chosen for the 60 of 60).
    await trainOn('small', ruleRows(12_000, 21), 'churned', { validationShare: 60 / 12_000, model: 'logreg', epochs: 40 }),
    await trainOn('value', valueRows(3000, 5), 'lifetime_value', { model: 'logreg', epochs: 40 }),
  ];
  for (const pkg of trained) packages.set(pkg.manifest.name, { pkg, predictor: await Predictor.create(pkg) });
  models = new StaticModelSource(trained);
}, 120_000);

afterAll(async () => {
  for (const { predictor } of packages.values()) await predictor.release();
});

describe('labels that arrive after their predictions were monitored', { timeout: 120_000 }, () => {
  const start = Date.parse('2026-11-23T08:00:00Z');
  const drifted = churnRows(1000, 9, { concept: 1 });

  it('indexes no prediction while the monitor waits for traffic (it reads that capture again)', async () => {
    await capture('churn', drifted.slice(0, 100), 'req-a', start);
    expect(await monitorAt('churn', start + 60_000)).toMatchObject({ status: 'waiting', rows: 100 });
    expect(await indexLines('churn')).toEqual([]);
  });

  it('indexes every prediction it reads, once, and reports no labels yet', async () => {
    await capture('churn', drifted.slice(100), 'req-b', start + 120_000);
    const outcome = await monitorAt('churn', start + 3_600_000);
    expect(outcome).toMatchObject({ status: 'reported', rows: 1000, qualityAlarm: false });
    expect(outcome.status === 'reported' && outcome.report.quality).toMatchObject({ labeledRows: 0, periods: [] });
    const lines = await indexLines('churn');
    expect(lines).toHaveLength(1000);
    expect(JSON.parse(lines[0]!)).toEqual({ id: 'req-a', row: 0, t: start, p: expect.any(Number) });
    expect(await data.list(`${DataPrefixes.predictionIndex}churn/1.0.0/2026-11-23/`)).toEqual([expect.stringMatching(/\/2026-11-23T09-00-00-000Z-0000\.jsonl$/)]);
  });

  it('joins concept-drifted labels on the next run, with no new capture, and raises the quality alarm naming accuracy', async () => {
    await label('churn', 'late-1.jsonl', 'req-a', drifted.slice(0, 100), 'churned');
    await label('churn', 'late-2.jsonl', 'req-b', drifted.slice(100), 'churned');
    const outcome = await monitorAt('churn', start + 2 * 3_600_000);
    expect(outcome).toMatchObject({ status: 'reported', rows: 0, alert: true, qualityAlarm: true });
    if (outcome.status !== 'reported') return;
    expect(outcome.report.quality).toMatchObject({ labeledRows: 1000, alarm: true });
    const accuracy = metric(outcome, 'accuracy')!;
    expect(accuracy).toMatchObject({ verdict: 'degraded', test: 'two_proportion_z' });
    expect(outcome.alarms.join()).toMatch(/model quality degraded \(accuracy/);
    expect(outcome.report.quality!.periods).toEqual([{ day: '2026-11-23', labeledRows: 1000, accuracy: accuracy.current, macroF1: expect.any(Number) }]);
    expect(new TextDecoder().decode(await data.read(outcome.htmlKey))).toMatch(/Per period[\s\S]*2026-11-23/);
  });

  it('counts a label once: a later run with no new ground truth joins nothing again', async () => {
    expect(await monitorAt('churn', start + 3 * 3_600_000)).toMatchObject({ status: 'waiting', rows: 0 });
    const calm = churnRows(300, 10);
    await capture('churn', calm, 'req-c', start + 4 * 3_600_000);
    await label('churn', 'late-3.jsonl', 'req-c', calm, 'churned');
    const outcome = await monitorAt('churn', start + 5 * 3_600_000);
    expect(outcome).toMatchObject({ status: 'reported', rows: 300 });
    expect(outcome.status === 'reported' && outcome.report.quality?.labeledRows).toBe(300);
    expect(metric(outcome, 'accuracy')).toMatchObject({ verdict: 'no_degradation' });
  });
});

describe('a run that fails after writing its index', { timeout: 120_000 }, () => {
  it('indexes its capture again on the next run, and a label still counts once', async () => {
    const start = Date.parse('2026-11-23T08:00:00Z');
    const rows = churnRows(300, 13);
    await capture('retry', rows, 'req-r', start);
    // The bucket refuses the state: the index is written, the watermark does not move.
    const failing: BlobStore = Object.assign(Object.create(data) as DirectoryStore, {
      write: (key: string, body: Uint8Array | string) => (key.endsWith('/state.json') ? Promise.reject(new Error('throttled')) : data.write(key, body)),
    });
    await expect(monitorAt('retry', start + 3_600_000, {}, failing)).rejects.toThrow('throttled');
    expect(await monitorAt('retry', start + 2 * 3_600_000)).toMatchObject({ status: 'reported', rows: 300 });
    expect(await indexLines('retry')).toHaveLength(600);
    await label('retry', 'labels.jsonl', 'req-r', rows, 'churned');

    const outcome = await monitorAt('retry', start + 3 * 3_600_000);

    expect(outcome.status === 'reported' && outcome.report.quality?.labeledRows).toBe(300);
  });
});

describe('the label window', { timeout: 120_000 }, () => {
  it('ignores labels of predictions captured longer ago than the window, and joins the recent ones', async () => {
    const start = Date.parse('2026-10-01T12:00:00Z');
    const old = churnRows(500, 11);
    const recent = churnRows(500, 12);
    await capture('aged', old, 'req-old', start);
    expect(await monitorAt('aged', start + 3_600_000)).toMatchObject({ status: 'reported', rows: 500 });
    await capture('aged', recent, 'req-recent', start + 20 * DAY);
    expect(await monitorAt('aged', start + 20 * DAY + 3_600_000)).toMatchObject({ status: 'reported', rows: 500 });
    await label('aged', 'old.jsonl', 'req-old', old, 'churned');
    await label('aged', 'recent.jsonl', 'req-recent', recent, 'churned');

    const outcome = await monitorAt('aged', start + 31 * DAY);

    expect(outcome.status === 'reported' && outcome.report.quality).toMatchObject({ labeledRows: 500, periods: [{ day: '2026-10-21', labeledRows: 500 }] });
  });

  it('follows a configured window', async () => {
    const start = Date.parse('2026-10-01T12:00:00Z');
    await label('aged', 'again.jsonl', 'req-recent', churnRows(500, 12), 'churned');
    // A new object is new ground truth, but its predictions, 11 days old, are outside a 10-day window.
    const outcome = await monitorAt('aged', start + 31 * DAY + 3_600_000, { labelWindowDays: 10 });
    expect(outcome.status === 'reported' && outcome.report.quality?.labeledRows).toBe(0);
  });
});

describe('a package whose validation set is small', { timeout: 120_000 }, () => {
  it('raises no quality alarm on a no-drift window although the realized drop from its perfect 60 rows is material', async () => {
    expect(packages.get('small')!.pkg.manifest.metrics).toMatchObject({ rows: 60, accuracy: 1, macroF1: 1 });
    const start = Date.parse('2026-11-23T08:00:00Z');
    const window = ruleRows(1000, 77);
    await capture('small', window, 'req-s', start);
    await label('small', 'labels.jsonl', 'req-s', window, 'churned');

    const outcome = await monitorAt('small', start + 3_600_000);

    expect(outcome).toMatchObject({ status: 'reported', qualityAlarm: false });
    for (const name of ['accuracy', 'macroF1']) {
      const m = metric(outcome, name)!;
      expect(m).toMatchObject({ verdict: 'no_degradation', baselineRows: 60 });
      expect(m.change).toBeLessThanOrEqual(-0.03);
      expect(m.pValue).toBeGreaterThan(0.05);
    }
  });
});

describe('a regression model', { timeout: 120_000 }, () => {
  it('realizes MAE and RMSE on late labels, per day of capture, and flags the day whose relation changed', async () => {
    const dayOne = Date.parse('2026-11-23T10:00:00Z');
    const asTrained = valueRows(500, 31);
    const changed = valueRows(500, 32, 1);
    await capture('value', asTrained, 'req-1', dayOne);
    expect(await monitorAt('value', dayOne + 3_600_000)).toMatchObject({ status: 'reported', rows: 500 });
    await capture('value', changed, 'req-2', dayOne + DAY);
    expect(await monitorAt('value', dayOne + DAY + 3_600_000)).toMatchObject({ status: 'reported', rows: 500 });
    await label('value', 'day-1.jsonl', 'req-1', asTrained, 'lifetime_value');
    await label('value', 'day-2.jsonl', 'req-2', changed, 'lifetime_value');

    const outcome = await monitorAt('value', dayOne + 2 * DAY);

    expect(outcome).toMatchObject({ status: 'reported', rows: 0, qualityAlarm: true });
    if (outcome.status !== 'reported') return;
    const { metrics } = packages.get('value')!.pkg.manifest;
    expect(outcome.report.quality!.metrics).toMatchObject([
      { name: 'mae', test: 'log_ratio_z', baseline: metrics.mae, verdict: 'degraded' },
      { name: 'rmse', test: 'log_ratio_z', baseline: metrics.rmse, verdict: 'degraded' },
    ]);
    const [first, second] = outcome.report.quality!.periods;
    expect(first).toMatchObject({ day: '2026-11-23', labeledRows: 500 });
    expect(second).toMatchObject({ day: '2026-11-24', labeledRows: 500 });
    // The day as trained errs as at validation; the changed day errs far more.
    expect(first!.rmse! / metrics.rmse!).toBeGreaterThan(0.8);
    expect(first!.rmse! / metrics.rmse!).toBeLessThan(1.2);
    expect(second!.mae!).toBeGreaterThan(3 * first!.mae!);
  });
});
