import { gzipSync } from 'node:zlib';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBatchJob } from '../../core/batch/job';
import { createBatchApp } from '../../functions/batch/app';
import { type EmbeddedS3, startEmbeddedS3 } from '../../local/embedded-s3';
import { generatedHeader, generateRows } from '../../model-pipeline/data/generate';
import { trainDemoPackage } from '../helpers/demo-package';
import { uploadPackage } from '../helpers/embedded-buckets';
import { useTempDir } from '../helpers/tmp';

/** Batch jobs over a real S3 API (embedded): the code path of the batch Lambda and the local watcher. */

const tmp = useTempDir();
let s3: EmbeddedS3;
let app: ReturnType<typeof createBatchApp>;

beforeAll(async () => {
  s3 = await startEmbeddedS3({ directory: tmp.file('s3'), port: 0, buckets: ['models', 'data'] });
  await uploadPackage(s3, 'models', await trainDemoPackage(tmp.path));
  app = createBatchApp(s3.client, { models: 'models', data: 'data' }, 64);
});

afterAll(async () => {
  await app?.engine.release();
  await s3?.close();
});

const put = (key: string, body: string | Uint8Array) => s3.client.send(new PutObjectCommand({ Bucket: 'data', Key: key, Body: body }));
const text = async (key: string) => (await s3.client.send(new GetObjectCommand({ Bucket: 'data', Key: key }))).Body!.transformToString();
const keys = async (prefix: string) => ((await s3.client.send(new ListObjectsV2Command({ Bucket: 'data', Prefix: prefix }))).Contents ?? []).map((o) => o.Key!);

function csv(rows: number, seed: number, extra: string[] = []): string {
  const lines = [generatedHeader().join(','), ...[...generateRows({ rows, seed })].map((r) => r.cells.join(',')), ...extra];
  return `${lines.join('\n')}\n`;
}

describe('a batch job on a CSV file', () => {
  it('scores every good row, rejects every bad one with its line, and writes a reconciling manifest', async () => {
    await put('batch/input/demo/2026/11/customers.csv', csv(300, 3, ['c9,old,1,2,3,4,5,pro,na,web,no', 'c10,1,2']));
    const outcome = await runBatchJob('batch/input/demo/2026/11/customers.csv', app);
    expect(outcome.status).toBe('succeeded');
    const manifest = JSON.parse(await text('batch/manifests/demo/2026/11/customers.csv.manifest.json'));
    expect(manifest).toMatchObject({ status: 'succeeded', rowsIn: 302, scored: 300, rejected: 2, model: { name: 'demo', version: '1.0.0' } });
    const predictions = (await text('batch/output/demo/2026/11/customers.csv.predictions.csv')).trim().split('\n');
    expect(predictions).toHaveLength(301);
    expect(predictions[0]).toBe('line,customer_id,churned,prediction,prob_no,prob_yes');
    const errors = (await text('batch/errors/demo/2026/11/customers.csv.errors.jsonl')).trim().split('\n').map((l) => JSON.parse(l));
    expect(errors.map((e) => [e.line, e.field])).toEqual([[302, 'age'], [303, undefined]]);
  });

  it('reads gzip input the same as plain input', async () => {
    const body = csv(100, 4);
    await put('batch/input/demo/plain.csv', body);
    await put('batch/input/demo/zipped.csv.gz', gzipSync(body));
    await runBatchJob('batch/input/demo/plain.csv', app);
    await runBatchJob('batch/input/demo/zipped.csv.gz', app);
    expect(await text('batch/output/demo/zipped.csv.gz.predictions.csv')).toBe(await text('batch/output/demo/plain.csv.predictions.csv'));
  });

  it('is idempotent: a redelivered event for the same object writes nothing again', async () => {
    await put('batch/input/demo/twice.csv', csv(50, 5));
    await runBatchJob('batch/input/demo/twice.csv', app);
    const before = await s3.client.send(new HeadObjectCommand({ Bucket: 'data', Key: 'batch/output/demo/twice.csv.predictions.csv' }));
    await new Promise((r) => setTimeout(r, 1100));
    const again = await runBatchJob('batch/input/demo/twice.csv', app);
    const after = await s3.client.send(new HeadObjectCommand({ Bucket: 'data', Key: 'batch/output/demo/twice.csv.predictions.csv' }));
    expect(again.status).toBe('skipped');
    expect(after.LastModified).toEqual(before.LastModified);
  });

  it('scores a replaced object (new ETag) again', async () => {
    await put('batch/input/demo/replaced.csv', csv(20, 6));
    await runBatchJob('batch/input/demo/replaced.csv', app);
    await put('batch/input/demo/replaced.csv', csv(30, 7));
    const outcome = await runBatchJob('batch/input/demo/replaced.csv', app);
    expect(outcome.status).toBe('succeeded');
    expect(outcome.manifest?.rowsIn).toBe(30);
  });

  it('leaves nothing that looks finished when it crashes mid-file, and a retry completes', async () => {
    await put('batch/input/demo/crash.csv', csv(500, 8));
    let calls = 0;
    const crashing = {
      ...app,
      scorerFor: async (model: string) => {
        const scorer = await app.scorerFor(model);
        return { manifest: scorer.manifest, modelFile: scorer.modelFile, predict: async (m: Parameters<typeof scorer.predict>[0]) => {
          if (++calls === 3) throw new Error('the container died');
          return scorer.predict(m);
        } };
      },
    };
    await expect(runBatchJob('batch/input/demo/crash.csv', crashing)).rejects.toThrow('the container died');
    expect(await keys('batch/output/demo/crash')).toEqual([]);
    expect(await keys('batch/manifests/demo/crash')).toEqual([]);
    const retry = await runBatchJob('batch/input/demo/crash.csv', app);
    expect(retry.manifest).toMatchObject({ status: 'succeeded', rowsIn: 500, scored: 500 });
    // Only lease records stay (core/batch/lock.ts): staged outputs are gone.
    expect((await keys('batch/staging/')).filter((k) => !k.includes('/lease/'))).toEqual([]);
  });

  it('fails a file that lacks a feature column with a manifest saying why and no outputs', async () => {
    await put('batch/input/demo/no-age.csv', 'customer_id,income\nc1,5\n');
    const outcome = await runBatchJob('batch/input/demo/no-age.csv', app);
    expect(outcome.status).toBe('failed');
    expect(outcome.manifest).toMatchObject({ status: 'failed', rowsIn: 0, error: expect.stringContaining('lacks feature column(s) age') });
    expect(await keys('batch/output/demo/no-age')).toEqual([]);
  });

  it('fails with a manifest naming a model that is not deployed', async () => {
    await put('batch/input/ghost/file.csv', csv(5, 9));
    const outcome = await runBatchJob('batch/input/ghost/file.csv', app);
    expect(outcome).toMatchObject({ status: 'failed', manifest: { error: expect.stringContaining('model "ghost" cannot be loaded') } });
  });

  it('skips keys that are not batch inputs', async () => {
    expect(await runBatchJob('batch/input/demo/readme.txt', app)).toMatchObject({ status: 'skipped', reason: expect.stringContaining('unsupported file type') });
  });
});

describe('a batch job on a JSONL file', () => {
  it('scores objects keyed by feature name, passing other fields through as ids', async () => {
    const rows = [...generateRows({ rows: 40, seed: 10 })].map((r) => Object.fromEntries(generatedHeader().map((h, i) => [h, /^-?[\d.]+$/.test(r.cells[i]!) ? Number(r.cells[i]) : r.cells[i]])));
    const lines = [...rows.map((r) => JSON.stringify(r)), '{"age": "x"}', 'not json', '[1,2]'];
    await put('batch/input/demo/events.jsonl', `${lines.join('\n')}\n`);
    const outcome = await runBatchJob('batch/input/demo/events.jsonl', app);
    expect(outcome.manifest).toMatchObject({ rowsIn: 43, scored: 40, rejected: 3 });
    const first = JSON.parse((await text('batch/output/demo/events.jsonl.predictions.jsonl')).split('\n')[0]!);
    expect(first).toMatchObject({ line: 1, ids: { customer_id: 'c0000001', churned: expect.any(String) }, prediction: expect.any(String) });
    expect(Object.keys(first.probabilities)).toEqual(['no', 'yes']);
    const errors = (await text('batch/errors/demo/events.jsonl.errors.jsonl')).trim().split('\n').map((l) => JSON.parse(l));
    expect(errors.map((e) => e.line)).toEqual([41, 42, 43]);
  });
});

describe('a batch job on a Parquet file', () => {
  it('scores every row group, numbering rows from 1, with INT64 and nullable columns', async () => {
    const { parquetWriteBuffer } = await import('hyparquet-writer');
    const rows = [...generateRows({ rows: 250, seed: 12 })].map((r) => r.cells);
    const header = generatedHeader();
    const column = (name: string) => rows.map((r) => r[header.indexOf(name)]!);
    const numeric = (name: string) => column(name).map(Number);
    const ages = column('age').map((v, i) => (i === 7 ? null : BigInt(Number(v))));
    const buffer = parquetWriteBuffer({
      rowGroupSize: 100,
      columnData: [
        { name: 'customer_id', data: column('customer_id'), type: 'STRING' },
        { name: 'age', data: ages, type: 'INT64' },
        ...['income', 'tenure_months', 'sessions_per_week', 'support_tickets', 'monthly_spend'].map((name) => ({ name, data: numeric(name), type: 'DOUBLE' as const })),
        ...['plan', 'region', 'channel'].map((name) => ({ name, data: column(name), type: 'STRING' as const })),
      ],
    });
    await put('batch/input/demo/table.parquet', new Uint8Array(buffer));
    const outcome = await runBatchJob('batch/input/demo/table.parquet', app);
    // Row 8 has a missing age, which the demo model does not accept.
    expect(outcome.manifest).toMatchObject({ status: 'succeeded', rowsIn: 250, scored: 249, rejected: 1 });
    const errors = (await text('batch/errors/demo/table.parquet.errors.jsonl')).trim().split('\n').map((l) => JSON.parse(l));
    expect(errors).toEqual([expect.objectContaining({ line: 8, field: 'age' })]);
    const last = JSON.parse((await text('batch/output/demo/table.parquet.predictions.jsonl')).trim().split('\n').pop()!);
    expect(last).toMatchObject({ line: 250, ids: { customer_id: 'c0000250' } });
  });
});
