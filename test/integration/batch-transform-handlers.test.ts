import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import type { Context, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StepResult, TransformStep } from '../../functions/batch-transform/app';
import { type EmbeddedS3, startEmbeddedS3 } from '../../local/embedded-s3';
import { generatedHeader, generateRows } from '../../model-pipeline/data/generate';
import { trainDemoPackage } from '../helpers/demo-package';
import { handlerEnvironmentFor, uploadPackage } from '../helpers/embedded-buckets';
import { useTempDir } from '../helpers/tmp';

/** The deployed Lambda modules of the Batch Transform path and the batch queue, over the embedded S3. */

const tmp = useTempDir('mlops-transform-handlers-');
let s3: EmbeddedS3;
let transformStep: (step: TransformStep, context: Context) => Promise<StepResult>;
let batchQueue: (event: SQSEvent, context: Context) => Promise<unknown>;
const context = { functionName: 'batch-transform', awsRequestId: 'req', getRemainingTimeInMillis: () => 60_000 } as unknown as Context;
const EXECUTION = '5f0c7a3e-9b1d-4c2e-8a47-3d6e1f2a9b80';

async function keys(prefix: string): Promise<string[]> {
  const page = await s3.client.send(new ListObjectsV2Command({ Bucket: 'data', Prefix: prefix }));
  return (page.Contents ?? []).map((o) => o.Key!);
}

function csv(rows: number): string {
  return `${[generatedHeader().join(','), ...[...generateRows({ rows, seed: 1 })].map((r) => r.cells.join(','))].join('\n')}\n`;
}

beforeAll(async () => {
  const demo = await trainDemoPackage(tmp.path);
  s3 = await startEmbeddedS3({ directory: tmp.file('s3'), port: 0, buckets: ['models', 'data'] });
  await uploadPackage(s3, 'models', demo);
  await s3.client.send(new PutObjectCommand({ Bucket: 'data', Key: 'batch/input/demo/2026 11/customers.csv', Body: csv(40) }));
  Object.assign(process.env, {
    MODEL_BUCKET: 'models',
    DATA_BUCKET: 'data',
    MODEL_VERSIONS: JSON.stringify({ demo: '1.0.0' }),
    ROWS_PER_REQUEST: '16',
    TRANSFORM_MODELS: 'demo',
    ...handlerEnvironmentFor(s3),
  });
  ({ handler: transformStep } = await import('../../functions/batch-transform/handler'));
  ({ handler: batchQueue } = await import('../../functions/batch/handler'));
});

afterAll(async () => {
  await s3?.close();
});

describe('the batch queue Lambda', () => {
  it('leaves the files of a model in TRANSFORM_MODELS to Batch Transform', async () => {
    const event = { source: 'aws.s3', 'detail-type': 'Object Created', detail: { bucket: { name: 'data' }, object: { key: 'batch/input/demo/2026+11/customers.csv' } } };

    const result = await batchQueue({ Records: [{ messageId: 'm1', body: JSON.stringify(event) }] } as unknown as SQSEvent, context);

    expect(result).toEqual({ batchItemFailures: [] });
    expect(await keys('batch/manifests/')).toEqual([]);
    expect(await keys('batch/output/')).toEqual([]);
  });
});

describe('the Batch Transform steps Lambda', () => {
  it('prepares the requests of a file named as S3 spells it in the event, with the URIs and a job name per execution', async () => {
    const result = await transformStep({ action: 'prepare', key: 'batch/input/demo/2026+11/customers.csv', execution: EXECUTION }, context);

    expect(result).toMatchObject({ status: 'prepared', inputKey: 'batch/input/demo/2026 11/customers.csv', requests: 3, rows: 40, version: '1.0.0' });
    const prepared = result as Extract<StepResult, { status: 'prepared' }>;
    expect(prepared.requestsUri).toBe(`s3://data/${prepared.requestsKey}`);
    expect(prepared.outputUri).toMatch(/^s3:\/\/data\/batch\/staging\/transform\/demo\/.*\/output\/$/);
    expect(prepared.jobName).toMatch(/^demo-1-0-0-[0-9a-f]{12}-1f2a9b80$/);
    expect(prepared.jobName.length).toBeLessThanOrEqual(63);
  });

  it('records the failure the state machine caught in a failed manifest', async () => {
    const result = await transformStep(
      { action: 'fail', key: 'batch/input/demo/2026+11/customers.csv', version: '1.0.0', error: { Error: 'States.TaskFailed', Cause: 'ClientError: no instance capacity' } },
      context,
    );

    expect(result).toMatchObject({ status: 'failed', manifest: 'batch/input/demo/2026 11/customers.csv' });
    const manifest = JSON.parse(await (await s3.client.send(new GetObjectCommand({ Bucket: 'data', Key: 'batch/manifests/demo/2026 11/customers.csv.manifest.json' }))).Body!.transformToString());
    expect(manifest).toMatchObject({ status: 'failed', rowsIn: 0, error: 'Batch Transform failed: States.TaskFailed: ClientError: no instance capacity' });
  });

  it('fails a file of a model without a GPU endpoint with a manifest naming the model', async () => {
    await s3.client.send(new PutObjectCommand({ Bucket: 'data', Key: 'batch/input/other/x.csv', Body: csv(3) }));

    const result = await transformStep({ action: 'prepare', key: 'batch/input/other/x.csv', execution: EXECUTION }, context);

    expect(result).toMatchObject({ status: 'failed' });
    const manifest = JSON.parse(await (await s3.client.send(new GetObjectCommand({ Bucket: 'data', Key: 'batch/manifests/other/x.csv.manifest.json' }))).Body!.transformToString());
    expect(manifest.error).toMatch(/model "other" cannot be loaded/);
  });
});
