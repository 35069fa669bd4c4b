import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBatchInput } from '../../core/batch/fan-out';
import { type BatchJobDependencies, runBatchJob } from '../../core/batch/job';
import { jobStagingKeys, batchKeys } from '../../core/batch/layout';
import { claimLease } from '../../core/batch/lock';
import { createBatchApp } from '../../functions/batch/app';
import { BatchWatcher } from '../../local/batch-watcher';
import { type EmbeddedS3, startEmbeddedS3 } from '../../local/embedded-s3';
import { generatedHeader, generateRows } from '../../model-pipeline/data/generate';
import { trainDemoPackage } from '../helpers/demo-package';
import { uploadPackage } from '../helpers/embedded-buckets';
import { useTempDir } from '../helpers/tmp';

/**
 * Large inputs split into parts, scored part by part and merged, over a real S3 API (embedded):
 * the outputs are those of one run, byte for byte; and the lease that keeps two deliveries of one
 * event from both scoring.
 */

const tmp = useTempDir();
let s3: EmbeddedS3;
let app: ReturnType<typeof createBatchApp>;

beforeAll(async () => {
  s3 = await startEmbeddedS3({ directory: tmp.file('s3'), port: 0, buckets: ['models', 'data'] });
  await uploadPackage(s3, 'models', await trainDemoPackage(tmp.path));
  app = createBatchApp(s3.client, { models: 'models', data: 'data' }, 16);
});

afterAll(async () => {
  await app?.engine.release();
  await s3?.close();
});

const put = (key: string, body: string | Uint8Array) => s3.client.send(new PutObjectCommand({ Bucket: 'data', Key: key, Body: body }));
const text = async (key: string) => (await s3.client.send(new GetObjectCommand({ Bucket: 'data', Key: key }))).Body!.transformToString();
const keys = async (prefix: string) => ((await s3.client.send(new ListObjectsV2Command({ Bucket: 'data', Prefix: prefix }))).Contents ?? []).map((o) => o.Key!);
const manifestOf = async (input: string) => JSON.parse(await text(batchKeys(input).manifest));

/** Outputs of an input: predictions and errors, as text. */
async function outputsOf(input: string) {
  const k = batchKeys(input);
  return { predictions: await text(k.predictions), errors: await text(k.errors) };
}

/** A scorer that counts model calls and can be made to fail or wait. */
function instrumented(deps: BatchJobDependencies, hooks: { beforePredict?: (call: number) => Promise<void> | void } = {}) {
  const calls = { count: 0 };
  const wrapped: BatchJobDependencies = {
    ...deps,
    scorerFor: async (model, version) => {
      const scorer = await deps.scorerFor(model, version);
      return {
        manifest: scorer.manifest,
        modelFile: scorer.modelFile,
        predict: async (m) => {
          const call = ++calls.count;
          await hooks.beforePredict?.(call);
          return scorer.predict(m);
        },
      };
    },
  };
  return { deps: wrapped, calls };
}

/**
 * A CSV that stresses cutting: a BOM, CRLF line breaks, quoted ids holding line breaks and commas,
 * rows with a wrong field count, and unclosed quotes (which the scorer recovers from by re-reading
 * the following lines), spread so that many of them sit near cuts of 300-byte parts.
 */
function trickyCsv(rows: number): string {
  const lines = [generatedHeader().join(',')];
  for (const [i, row] of [...generateRows({ rows, seed: 21 })].entries()) {
    const cells = [...row.cells];
    if (i % 7 === 3) cells[0] = `"${cells[0]}\r\nsecond line, with a comma"`;
    if (i % 11 === 5) cells.push('extra');
    if (i % 29 === 13) cells[0] = `"${cells[0]}`;
    if (i % 31 === 17) cells[1] = 'not a number';
    lines.push(cells.join(','));
  }
  return `\uFEFF${lines.join('\r\n')}\r\n`;
}

describe('a CSV file split into parts', () => {
  it('yields byte for byte the predictions and errors of one run, and the same counts, with quoted line breaks, malformed rows, CRLF and a BOM', async () => {
    const body = trickyCsv(400);
    await put('batch/input/demo/whole/tricky.csv', body);
    await put('batch/input/demo/split/tricky.csv', body);

    const whole = await runBatchJob('batch/input/demo/whole/tricky.csv', app);
    const split = await runBatchInput('batch/input/demo/split/tricky.csv', app, { aboveBytes: 1000, partBytes: 300, concurrency: 3 });

    expect(split.status).toBe('succeeded');
    expect(split.manifest?.parts).toBeGreaterThan(50);
    expect(await outputsOf('batch/input/demo/split/tricky.csv')).toEqual(await outputsOf('batch/input/demo/whole/tricky.csv'));
    const { rowsIn, scored, rejected } = whole.manifest!;
    expect(split.manifest).toMatchObject({ rowsIn, scored, rejected });
    expect(rejected).toBeGreaterThan(50);
  });

  it('keeps error line numbers the file\'s own', async () => {
    const errors = (await text('batch/errors/demo/split/tricky.csv.errors.jsonl')).trim().split('\n').map((l) => JSON.parse(l) as { line: number; raw: string });
    const physical = trickyCsv(400).slice(1).split('\r\n');

    for (const error of errors) expect(physical[error.line - 1]!.startsWith(error.raw.split('\n')[0]!.replace(/\r$/, ''))).toBe(true);
  });

  it('leaves nothing of the parts in staging once merged', async () => {
    const etag = (await s3.client.send(new HeadObjectCommand({ Bucket: 'data', Key: 'batch/input/demo/split/tricky.csv' }))).ETag!.replaceAll('"', '');
    const staging = jobStagingKeys(batchKeys('batch/input/demo/split/tricky.csv'), etag, '1.0.0');

    expect((await keys(staging.root)).filter((k) => !k.startsWith(staging.lease))).toEqual([]);
  });

  it('stays on the single-run path when gzip-compressed, which cannot be split', async () => {
    const { gzipSync } = await import('node:zlib');
    await put('batch/input/demo/zipped/tricky.csv.gz', gzipSync(trickyCsv(100)));

    const outcome = await runBatchInput('batch/input/demo/zipped/tricky.csv.gz', app, { aboveBytes: 100, partBytes: 300 });

    expect(outcome.status).toBe('succeeded');
    expect(outcome.manifest?.parts).toBeUndefined();
  });
});

describe('a split file that cannot be scored at all', () => {
  it('fails with one manifest saying why, as one run does, and writes no outputs', async () => {
    const body = `customer_id,income\n${Array.from({ length: 200 }, (_, i) => `c${i},${i}`).join('\n')}\n`;
    await put('batch/input/demo/split/no-age.csv', body);

    const outcome = await runBatchInput('batch/input/demo/split/no-age.csv', app, { aboveBytes: 500, partBytes: 500 });

    expect(outcome.manifest).toMatchObject({ status: 'failed', rowsIn: 0, error: expect.stringContaining('lacks feature column(s) age') });
    expect(await keys('batch/output/demo/split/no-age')).toEqual([]);
    expect(await keys('batch/errors/demo/split/no-age')).toEqual([]);
  });
});

describe('a JSONL file split into parts', () => {
  it('yields the outputs of one run, with unreadable lines numbered as in the file', async () => {
    const rows = [...generateRows({ rows: 120, seed: 22 })].map((r) => Object.fromEntries(generatedHeader().map((h, i) => [h, /^-?[\d.]+$/.test(r.cells[i]!) ? Number(r.cells[i]) : r.cells[i]])));
    const lines = rows.map((r, i) => (i % 13 === 6 ? 'not json' : i % 17 === 2 ? '' : JSON.stringify(r)));
    const body = `${lines.join('\n')}\n`;
    await put('batch/input/demo/whole/events.jsonl', body);
    await put('batch/input/demo/split/events.jsonl', body);

    const whole = await runBatchJob('batch/input/demo/whole/events.jsonl', app);
    const split = await runBatchInput('batch/input/demo/split/events.jsonl', app, { aboveBytes: 1000, partBytes: 1000 });

    expect(split.manifest?.parts).toBeGreaterThan(5);
    expect(await outputsOf('batch/input/demo/split/events.jsonl')).toEqual(await outputsOf('batch/input/demo/whole/events.jsonl'));
    expect(split.manifest).toMatchObject({ rowsIn: whole.manifest!.rowsIn, scored: whole.manifest!.scored, rejected: whole.manifest!.rejected });
  });
});

describe('a Parquet file split into parts', () => {
  it('scores row groups as parts, with the outputs of one run', async () => {
    const { parquetWriteBuffer } = await import('hyparquet-writer');
    const rows = [...generateRows({ rows: 250, seed: 23 })].map((r) => r.cells);
    const header = generatedHeader();
    const column = (name: string) => rows.map((r) => r[header.indexOf(name)]!);
    const buffer = parquetWriteBuffer({
      rowGroupSize: 40,
      columnData: [
        { name: 'customer_id', data: column('customer_id'), type: 'STRING' },
        { name: 'age', data: column('age').map((v, i) => (i === 100 ? null : Number(v))), type: 'DOUBLE' },
        ...['income', 'tenure_months', 'sessions_per_week', 'support_tickets', 'monthly_spend'].map((name) => ({ name, data: column(name).map(Number), type: 'DOUBLE' as const })),
        ...['plan', 'region', 'channel'].map((name) => ({ name, data: column(name), type: 'STRING' as const })),
      ],
    });
    await put('batch/input/demo/whole/table.parquet', new Uint8Array(buffer));
    await put('batch/input/demo/split/table.parquet', new Uint8Array(buffer));

    await runBatchJob('batch/input/demo/whole/table.parquet', app);
    const split = await runBatchInput('batch/input/demo/split/table.parquet', app, { aboveBytes: 100, partBytes: 1 });

    expect(split.manifest).toMatchObject({ status: 'succeeded', rowsIn: 250, scored: 249, rejected: 1, parts: 7 });
    expect(await outputsOf('batch/input/demo/split/table.parquet')).toEqual(await outputsOf('batch/input/demo/whole/table.parquet'));
  });
});

describe('a part that crashes', () => {
  it('leaves nothing that looks finished; the retry scores only the parts not done and writes the outputs once', async () => {
    const body = trickyCsv(200);
    await put('batch/input/demo/whole/crash.csv', body);
    await put('batch/input/demo/split/crash.csv', body);
    await runBatchJob('batch/input/demo/whole/crash.csv', app);
    const fanOut = { aboveBytes: 1000, partBytes: 2000, concurrency: 1 };
    const crashing = instrumented(app, {
      beforePredict: (call) => {
        if (call === 6) throw new Error('the container died');
      },
    });

    await expect(runBatchInput('batch/input/demo/split/crash.csv', crashing.deps, fanOut)).rejects.toThrow('the container died');
    expect(await keys('batch/output/demo/split/crash')).toEqual([]);
    expect(await keys('batch/manifests/demo/split/crash')).toEqual([]);

    const retry = instrumented(app);
    const outcome = await runBatchInput('batch/input/demo/split/crash.csv', retry.deps, fanOut);
    const again = instrumented(app);
    await runBatchInput('batch/input/demo/split/crash.csv', again.deps, fanOut);
    await put('batch/input/demo/split/crash-reference.csv', body);
    const reference = instrumented(app);
    await runBatchInput('batch/input/demo/split/crash-reference.csv', reference.deps, fanOut);

    expect(outcome.status).toBe('succeeded');
    // Parts finished before the crash were not scored again.
    expect(retry.calls.count).toBeGreaterThan(0);
    expect(retry.calls.count).toBeLessThan(reference.calls.count);
    expect(await outputsOf('batch/input/demo/split/crash.csv')).toEqual(await outputsOf('batch/input/demo/whole/crash.csv'));
    expect(again.calls.count).toBe(0);
  });
});

describe('two deliveries of the same event at once', () => {
  it('score once: the second is skipped while the first holds the lease', async () => {
    await put('batch/input/demo/twice-at-once.csv', trickyCsv(100));
    let second: Awaited<ReturnType<typeof runBatchJob>> | undefined;
    let release!: () => void;
    const secondDone = new Promise<void>((resolve) => (release = resolve));
    const first = instrumented(app, { beforePredict: (call) => (call === 1 ? secondDone : undefined) });
    const other = instrumented(app);

    const running = runBatchJob('batch/input/demo/twice-at-once.csv', first.deps);
    // The first holds the lease once it calls the model; the second arrives then.
    while (first.calls.count === 0) await new Promise((r) => setTimeout(r, 5));
    second = await runBatchJob('batch/input/demo/twice-at-once.csv', other.deps);
    release();
    const outcome = await running;

    expect(outcome.status).toBe('succeeded');
    expect(second).toMatchObject({ status: 'skipped', reason: expect.stringContaining('is being scored by') });
    expect(other.calls.count).toBe(0);
  });

  it('score once on the fan-out path too', async () => {
    await put('batch/input/demo/split/twice-at-once.csv', trickyCsv(100));
    const fanOut = { aboveBytes: 1000, partBytes: 1000 };
    let release!: () => void;
    const secondDone = new Promise<void>((resolve) => (release = resolve));
    const first = instrumented(app, { beforePredict: (call) => (call === 1 ? secondDone : undefined) });
    const other = instrumented(app);

    const running = runBatchInput('batch/input/demo/split/twice-at-once.csv', first.deps, fanOut);
    while (first.calls.count === 0) await new Promise((r) => setTimeout(r, 5));
    const second = await runBatchInput('batch/input/demo/split/twice-at-once.csv', other.deps, fanOut);
    release();

    expect((await running).status).toBe('succeeded');
    expect(second).toMatchObject({ status: 'skipped', reason: expect.stringContaining('is being scored by') });
    expect(other.calls.count).toBe(0);
  });
});

describe('the lease of a holder that crashed', () => {
  const input = 'batch/input/demo/orphaned.csv';
  const leaseMs = 60_000;

  async function orphanLease() {
    await put(input, trickyCsv(30));
    const etag = (await s3.client.send(new HeadObjectCommand({ Bucket: 'data', Key: input }))).ETag!.replaceAll('"', '');
    // Claimed and never released: the process holding it died.
    await claimLease(app.store, jobStagingKeys(batchKeys(input), etag, '1.0.0').lease, { owner: 'crashed', leaseMs });
  }

  it('blocks a retry while in force', async () => {
    await orphanLease();

    const outcome = await runBatchJob(input, { ...app, leaseMs });

    expect(outcome).toMatchObject({ status: 'skipped', reason: expect.stringContaining('crashed') });
  });

  it('lets a retry proceed once expired', async () => {
    const later = Date.now() + 2 * leaseMs;

    const outcome = await runBatchJob(input, { ...app, leaseMs, now: () => later });

    expect(outcome).toMatchObject({ status: 'succeeded', manifest: { rowsIn: 30 } });
  });
});

describe('the local batch watcher', () => {
  it('splits a file above its threshold and scores a smaller one in one run, as S3 → SQS → Lambda / Step Functions do', async () => {
    const lines: string[] = [];
    const watcher = new BatchWatcher(app, (line) => lines.push(line), { aboveBytes: 4000, partBytes: 1000 });
    watcher.watch(s3, 'data');

    await put('batch/input/demo/watched/large.csv', trickyCsv(120));
    await put('batch/input/demo/watched/small.csv', trickyCsv(10));
    while (watcher.outcomes.length < 2) await new Promise((r) => setTimeout(r, 20));
    await watcher.idle();

    expect((await manifestOf('batch/input/demo/watched/large.csv')).parts).toBeGreaterThan(3);
    expect(await manifestOf('batch/input/demo/watched/small.csv')).not.toHaveProperty('parts');
    expect(lines.find((l) => l.includes('large.csv'))).toMatch(/succeeded .* in \d+ parts/);
  });
});

describe('leases over the S3 API', () => {
  it('let exactly one of many simultaneous claims of a job hold it', async () => {
    const claims = await Promise.all(Array.from({ length: 8 }, (_, i) => claimLease(app.store, 'batch/staging/jobs/race/lease/', { owner: `claimant ${i}`, leaseMs: 60_000 })));

    expect(claims.filter((c) => !('busy' in c))).toHaveLength(1);
    expect(claims.filter((c) => 'busy' in c)).toHaveLength(7);
  });

  it('pass to the next claimant at once when released', async () => {
    const first = await claimLease(app.store, 'batch/staging/jobs/released/lease/', { owner: 'first', leaseMs: 60_000 });
    if ('busy' in first) throw new Error('the first claim must hold the lease');
    await first.release();

    const second = await claimLease(app.store, 'batch/staging/jobs/released/lease/', { owner: 'second', leaseMs: 60_000 });

    expect(second).toMatchObject({ generation: 1 });
  });

  it('rest on a write that refuses an existing key (If-None-Match: *)', async () => {
    const results = await Promise.all(Array.from({ length: 5 }, () => app.store.createIfAbsent('batch/staging/jobs/once', 'x')));

    expect(results.filter(Boolean)).toHaveLength(1);
  });
});
