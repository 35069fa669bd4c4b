import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchJobManifest } from '../../core/batch/job-manifest';
import { runBatchJob } from '../../core/batch/job';
import { createBatchApp } from '../../functions/batch/app';
import { type EmbeddedS3, startEmbeddedS3 } from '../../local/embedded-s3';
import { generatedHeader, generateRows } from '../../model-pipeline/data/generate';
import { trainDemoPackage } from '../helpers/demo-package';
import { uploadPackage } from '../helpers/embedded-buckets';
import { useTempDir } from '../helpers/tmp';

/**
 * A file that cannot be read to its end — a gzip stream cut short, Parquet pages corrupted under a
 * valid footer, binary data named .csv — ends with a failed manifest that says why and how far it
 * got, and no outputs: never only a log line, and never retried at every restart.
 */

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
const exists = (key: string) => s3.client.send(new HeadObjectCommand({ Bucket: 'data', Key: key })).then(() => true, () => false);
const manifestOf = async (name: string): Promise<BatchJobManifest> =>
  JSON.parse(await (await s3.client.send(new GetObjectCommand({ Bucket: 'data', Key: `batch/manifests/demo/${name}.manifest.json` }))).Body!.transformToString());

const csv = (rows: number, seed: number) => `${[generatedHeader().join(','), ...[...generateRows({ rows, seed })].map((r) => r.cells.join(','))].join('\n')}\n`;

async function expectFailedWithoutOutputs(name: string, reason: RegExp): Promise<BatchJobManifest> {
  const outcome = await runBatchJob(`batch/input/demo/${name}`, app);
  expect(outcome.status).toBe('failed');
  const manifest = await manifestOf(name);
  expect(manifest).toMatchObject({ status: 'failed', rowsIn: 0, scored: 0, rejected: 0 });
  expect(manifest.error).toMatch(reason);
  expect(await exists(`batch/output/demo/${name}.predictions.csv`)).toBe(false);
  expect(await exists(`batch/errors/demo/${name}.errors.jsonl`)).toBe(false);
  return manifest;
}

describe('a file that cannot be read to its end', () => {
  it('fails a gzip stream cut short with a manifest naming the gzip and the rows read before', async () => {
    const whole = gzipSync(csv(5_000, 1));
    await put('batch/input/demo/cut.csv.gz', whole.subarray(0, Math.floor(whole.length * 0.6)));

    const manifest = await expectFailedWithoutOutputs('cut.csv.gz', /gzip .*corrupt or cut short/);

    expect(manifest.rowsBeforeError).toBeGreaterThan(0);
    expect(manifest.rowsBeforeError).toBeLessThan(5_000);
  });

  it('fails bytes that are not gzip at all under a .gz name', async () => {
    await put('batch/input/demo/not-gzip.jsonl.gz', 'plain text, not gzip\n');

    await expectFailedWithoutOutputs('not-gzip.jsonl.gz', /gzip/);
  });

  it('fails a Parquet file whose pages are corrupt under a valid footer, naming the rows', async () => {
    const { parquetWriteBuffer } = await import('hyparquet-writer');
    const { parquetMetadata } = await import('hyparquet');
    const rows = [...generateRows({ rows: 300, seed: 2 })].map((r) => r.cells);
    const header = generatedHeader();
    const column = (name: string) => rows.map((r) => r[header.indexOf(name)]!);
    const bytes = new Uint8Array(
      parquetWriteBuffer({
        rowGroupSize: 100,
        columnData: [
          { name: 'customer_id', data: column('customer_id'), type: 'STRING' },
          ...['age', 'income', 'tenure_months', 'sessions_per_week', 'support_tickets', 'monthly_spend'].map((name) => ({ name, data: column(name).map(Number), type: 'DOUBLE' as const })),
          ...['plan', 'region', 'channel'].map((name) => ({ name, data: column(name), type: 'STRING' as const })),
        ],
      }),
    );
    // The page headers of the second row group overwritten: its footer entry still points there.
    const second = parquetMetadata(bytes.buffer as ArrayBuffer).row_groups[1]!;
    for (const chunk of second.columns) bytes.fill(0xff, Number(chunk.meta_data!.data_page_offset), Number(chunk.meta_data!.data_page_offset) + 12);
    await put('batch/input/demo/corrupt.parquet', bytes);

    const manifest = await expectFailedWithoutOutputs('corrupt.parquet', /rows 101–200 .*cannot be read/);

    // Counted as chunks (64 rows here) are scored, so at least one chunk and at most the good row group.
    expect(manifest.rowsBeforeError).toBeGreaterThanOrEqual(64);
    expect(manifest.rowsBeforeError).toBeLessThanOrEqual(100);
  });

  it.each(['noise.csv', 'noise.jsonl'])('fails binary data named %s as not text', async (name) => {
    const noise = randomBytes(200_000);
    noise[1_000] = 0;
    await put(`batch/input/demo/${name}`, noise);

    await expectFailedWithoutOutputs(name, /binary data/);
  });

  it('fails a UTF-16 CSV, whose every other byte is NUL, as not UTF-8 text', async () => {
    await put('batch/input/demo/utf16.csv', Buffer.from(csv(10, 3), 'utf16le'));

    await expectFailedWithoutOutputs('utf16.csv', /UTF-16/);
  });
});
