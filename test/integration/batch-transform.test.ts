import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBatchJob } from '../../core/batch/job';
import { failTransform, finalizeTransform, prepareTransform, type PreparedTransform, type TransformDependencies, TransformMismatchError, transformJobName } from '../../core/batch/transform';
import type { ModelPackage } from '../../core/model/model-package';
import { OnnxSession } from '../../core/model/onnx-session';
import { createBatchApp } from '../../functions/batch/app';
import { S3BatchStore } from '../../functions/shared/s3-batch-store';
import { type EmbeddedS3, startEmbeddedS3 } from '../../local/embedded-s3';
import { generatedHeader, generateRows } from '../../model-pipeline/data/generate';
import { trainDemoPackage } from '../helpers/demo-package';
import { uploadPackage } from '../helpers/embedded-buckets';
import { useTempDir } from '../helpers/tmp';

const tmp = useTempDir('mlops-transform-');
let s3: EmbeddedS3;
let demo: ModelPackage;
let session: OnnxSession;
let deps: TransformDependencies;
let lambdaPath: ReturnType<typeof createBatchApp>;

async function put(key: string, body: string): Promise<void> {
  await s3.client.send(new PutObjectCommand({ Bucket: 'data', Key: key, Body: body }));
}

async function text(key: string): Promise<string> {
  const object = await s3.client.send(new GetObjectCommand({ Bucket: 'data', Key: key }));
  return object.Body!.transformToString();
}

async function keys(prefix: string): Promise<string[]> {
  const page = await s3.client.send(new ListObjectsV2Command({ Bucket: 'data', Prefix: prefix }));
  return (page.Contents ?? []).map((o) => o.Key!);
}

/** A CSV of generated churn rows, with an id column passed through. */
function csv(rows: number, seed: number): string {
  return `${[generatedHeader().join(','), ...[...generateRows({ rows, seed })].map((r) => r.cells.join(','))].join('\n')}\n`;
}

/**
 * What Batch Transform does with the request lines on the Triton container: each line is one
 * OIP v2 request, ONNX Runtime runs the model on it, and the raw answers are written in order,
 * one line each, to `<S3OutputPath>/requests.jsonl.out`.
 */
async function runTransform(prepared: PreparedTransform, answer: (line: string, index: number) => Promise<string | undefined> = tritonAnswer): Promise<void> {
  const requests = (await text(prepared.requestsKey)).trim().split('\n');
  const out: string[] = [];
  for (const [index, line] of requests.entries()) {
    const answered = await answer(line, index);
    if (answered !== undefined) out.push(answered);
  }
  await put(`${prepared.outputPrefix}requests.jsonl.out`, `${out.join('\n')}\n`);
}

async function tritonAnswer(line: string): Promise<string> {
  const request = JSON.parse(line) as { id: string; inputs: Array<{ name: string; shape: [number, number]; data: number[] }> };
  const input = request.inputs[0]!;
  const { tensor } = demo.manifest.output;
  const output = (await session.run(input.name, { data: Float32Array.from(input.data), rows: input.shape[0], cols: input.shape[1] }, [tensor]))[tensor]!;
  return JSON.stringify({ id: request.id, model_name: 'demo', model_version: '1', outputs: [{ name: tensor, datatype: 'FP32', shape: [...output.dims], data: Array.from(output.data as Float32Array) }] });
}

beforeAll(async () => {
  demo = await trainDemoPackage(tmp.path);
  session = await OnnxSession.create(demo.files.get('model.onnx')!);
  s3 = await startEmbeddedS3({ directory: tmp.file('s3'), port: 0, buckets: ['models', 'data'] });
  await uploadPackage(s3, 'models', demo);
  deps = { store: new S3BatchStore(s3.client, 'data'), manifestOf: async () => demo.manifest, rowsPerRequest: 64 };
  lambdaPath = createBatchApp(s3.client, { models: 'models', data: 'data' }, 64);
});

afterAll(async () => {
  await session?.release();
  await lambdaPath?.engine.release();
  await s3?.close();
});

describe('scoring a file with Batch Transform', () => {
  it('writes one OIP v2 request line per chunk of valid rows, rows with bad values left out', async () => {
    await put('batch/input/demo/requests.csv', csv(150, 1).replace(/\n([^,\n]*),[^,\n]*,/, '\n$1,old,'));

    const prepared = (await prepareTransform('batch/input/demo/requests.csv', deps)) as PreparedTransform;

    expect(prepared).toMatchObject({ status: 'prepared', requests: 3, version: '1.0.0' });
    const lines = (await text(prepared.requestsKey)).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.id)).toEqual(['0', '1', '2']);
    expect(lines[0].inputs[0]).toMatchObject({ name: 'features', datatype: 'FP32', shape: [64, 9] });
    expect(lines.reduce((n, l) => n + l.inputs[0].shape[0], 0)).toBe(prepared.rows);
    expect(lines[0].outputs).toEqual([{ name: 'probabilities', parameters: { binary_data: false } }]);
  });

  it('writes the predictions, errors and manifest the Lambda path writes for the same file', async () => {
    const body = csv(300, 2).replace(/\n([^,\n]*),[^,\n]*,/, '\n$1,forty,');
    await put('batch/input/demo/gpu/customers.csv', body);
    await put('batch/input/demo/lambda/customers.csv', body);

    const prepared = (await prepareTransform('batch/input/demo/gpu/customers.csv', deps)) as PreparedTransform;
    await runTransform(prepared);
    const outcome = await finalizeTransform(prepared, deps);
    const reference = await runBatchJob('batch/input/demo/lambda/customers.csv', lambdaPath);

    expect(outcome.status).toBe('succeeded');
    expect(outcome.manifest).toMatchObject({ rowsIn: 300, scored: 299, rejected: 1, model: { name: 'demo', version: '1.0.0', file: 'triton/model.tar.gz' }, outputs: { predictions: 'batch/output/demo/gpu/customers.csv.predictions.csv' } });
    expect({ rowsIn: outcome.manifest!.rowsIn, scored: outcome.manifest!.scored, rejected: outcome.manifest!.rejected }).toEqual({ rowsIn: reference.manifest!.rowsIn, scored: reference.manifest!.scored, rejected: reference.manifest!.rejected });
    expect(await text('batch/errors/demo/gpu/customers.csv.errors.jsonl')).toBe(await text('batch/errors/demo/lambda/customers.csv.errors.jsonl'));
    const gpu = (await text('batch/output/demo/gpu/customers.csv.predictions.csv')).trim().split('\n');
    const lambda = (await text('batch/output/demo/lambda/customers.csv.predictions.csv')).trim().split('\n');
    expect(gpu).toHaveLength(lambda.length);
    // Same header, ids and labels; probabilities to the 5th decimal (one float32 path, two runs).
    expect(gpu[0]).toBe(lambda[0]);
    gpu.slice(1).forEach((row, i) => {
      const [a, b] = [row.split(','), lambda[i + 1]!.split(',')];
      expect(a.slice(0, -2)).toEqual(b.slice(0, -2));
      a.slice(-2).forEach((p, k) => expect(Number(p)).toBeCloseTo(Number(b[b.length - 2 + k]), 5));
    });
  });

  it('scores JSONL input the same way, every line accounted for', async () => {
    const records = [...generateRows({ rows: 100, seed: 3 })].map((row) => Object.fromEntries(generatedHeader().map((name, i) => [name, row.cells[i]])));
    await put('batch/input/demo/records.jsonl', `${records.map((r) => JSON.stringify(r)).join('\n')}\nnot json\n`);

    const prepared = (await prepareTransform('batch/input/demo/records.jsonl', deps)) as PreparedTransform;
    await runTransform(prepared);
    const outcome = await finalizeTransform(prepared, deps);

    expect(outcome.manifest).toMatchObject({ status: 'succeeded', rowsIn: 101, scored: 100, rejected: 1 });
    expect(JSON.parse((await text('batch/errors/demo/records.jsonl.errors.jsonl')).trim())).toMatchObject({ line: 101 });
  });

  it('needs no transform when no row is valid, and still writes every row to the errors file', async () => {
    await put('batch/input/demo/all-bad.csv', `${generatedHeader().join(',')}\n${'x,'.repeat(generatedHeader().length - 1)}x\n`);

    const prepared = (await prepareTransform('batch/input/demo/all-bad.csv', deps)) as PreparedTransform;
    const outcome = await finalizeTransform(prepared, deps);

    expect(prepared.requests).toBe(0);
    expect(outcome.manifest).toMatchObject({ status: 'succeeded', rowsIn: 1, scored: 0, rejected: 1 });
  });

  it('fails with a manifest, before any transform, a file whose rows have missing values', async () => {
    const nullable = { ...demo.manifest, input: { ...demo.manifest.input, features: demo.manifest.input.features.map((f) => (f.name === 'income' ? { ...f, nullable: true } : f)) } };
    await put('batch/input/demo/missing.csv', csv(10, 4).replace(/\n([^,\n]*,[^,\n]*),[^,\n]*,/, '\n$1,,'));

    const outcome = await prepareTransform('batch/input/demo/missing.csv', { ...deps, manifestOf: async () => nullable });

    expect(outcome).toMatchObject({ status: 'failed', manifest: { status: 'failed', rowsIn: 0, error: expect.stringMatching(/no value for the nullable feature "income".*JSON lines/) } });
  });

  it('refuses answers that do not line up with the requests, writing no outputs', async () => {
    await put('batch/input/demo/short.csv', csv(200, 5));
    const prepared = (await prepareTransform('batch/input/demo/short.csv', deps)) as PreparedTransform;
    await runTransform(prepared, async (line, index) => (index === 1 ? undefined : tritonAnswer(line)));

    await expect(finalizeTransform(prepared, deps)).rejects.toBeInstanceOf(TransformMismatchError);
    expect(await keys('batch/output/demo/short')).toEqual([]);
    expect(await keys('batch/manifests/demo/short')).toEqual([]);
  });

  it('records a failed transform in a manifest with the reason', async () => {
    await put('batch/input/demo/failed.csv', csv(10, 6));

    const outcome = await failTransform('batch/input/demo/failed.csv', '1.0.0', 'the transform job failed: ClientError: out of memory', deps.store);

    expect(outcome.manifest).toMatchObject({ status: 'failed', rowsIn: 0, error: 'the transform job failed: ClientError: out of memory', model: { file: 'triton/model.tar.gz' } });
  });

  it('skips an input already scored by the same version', async () => {
    await put('batch/input/demo/once.csv', csv(20, 7));
    const prepared = (await prepareTransform('batch/input/demo/once.csv', deps)) as PreparedTransform;
    await runTransform(prepared);
    await finalizeTransform(prepared, deps);

    expect(await prepareTransform('batch/input/demo/once.csv', deps)).toMatchObject({ status: 'skipped' });
  });
});

describe('transformJobName', () => {
  it('is at most 63 letters, digits and hyphens, and differs between inputs', () => {
    const a = transformJobName('a-very-long-model-name-that-goes-on-and-on', '10.20.30-rc.1', 'etag', 'batch/input/x/a.csv');
    const b = transformJobName('a-very-long-model-name-that-goes-on-and-on', '10.20.30-rc.1', 'etag', 'batch/input/x/b.csv');

    expect(a).toMatch(/^[a-zA-Z0-9](-*[a-zA-Z0-9])*$/);
    expect(a.length).toBeLessThanOrEqual(63);
    expect(a).not.toBe(b);
  });
});
