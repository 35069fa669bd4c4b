import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CaptureRecord } from '../../core/capture/capture';
import { InferenceEngine } from '../../core/model/engine';
import type { ModelPackage } from '../../core/model/model-package';
import { OnnxSession } from '../../core/model/onnx-session';
import { StaticModelSource } from '../../core/model/registry';
import { decodeInstances } from '../../core/protocol/instances';
import { DEFAULT_LIMITS } from '../../core/protocol/limits';
import { buildTritonRequest } from '../../core/protocol/triton';
import type { ConversionOutcome } from '../../functions/capture-convert/app';
import { captureConvertEnv } from '../../functions/capture-convert/env';
import { type EmbeddedS3, startEmbeddedS3 } from '../../local/embedded-s3';
import { churnInstance, trainDemoPackage } from '../helpers/demo-package';
import { handlerEnvironmentFor, uploadPackage } from '../helpers/embedded-buckets';
import { useTempDir } from '../helpers/tmp';

const tmp = useTempDir('mlops-capture-convert-');
let s3: EmbeddedS3;
let demo: ModelPackage;
let handler: (event: unknown, context: Context) => Promise<ConversionOutcome | undefined>;
const context = { functionName: 'capture-convert', awsRequestId: 'req', getRemainingTimeInMillis: () => 10_000 } as unknown as Context;

const instances = [churnInstance, { ...churnInstance, plan: 'pro', age: 63, support_tickets: 0 }, { ...churnInstance, region: 'apac', monthly_spend: 12 }];
const RAW_KEY = 'capture-raw/demo/mlops-test-demo/AllTraffic/2024/05/06/07/08-09-123-5c3f7d1e.jsonl';

/**
 * One captured InvokeEndpoint call as SageMaker writes it: the request the proxy sends for
 * `instances`, and Triton's answer computed by ONNX Runtime on the package's model.
 */
async function capturedCall(pkg: ModelPackage, requestId: string): Promise<string> {
  const matrix = decodeInstances({ instances }, pkg.manifest, DEFAULT_LIMITS);
  const request = buildTritonRequest(pkg.manifest, matrix, { id: requestId });
  const session = await OnnxSession.create(pkg.files.get('model.onnx')!);
  const { tensor } = pkg.manifest.output;
  const output = (await session.run(pkg.manifest.input.tensor, matrix, [tensor]))[tensor]!;
  await session.release();
  const answer = { id: requestId, model_name: 'demo', model_version: '1', outputs: [{ name: tensor, datatype: 'FP32', shape: [...output.dims], data: Array.from(output.data as Float32Array) }] };
  return JSON.stringify({
    captureData: {
      endpointInput: { observedContentType: request.contentType, mode: 'INPUT', data: new TextDecoder().decode(request.body), encoding: 'JSON' },
      endpointOutput: { observedContentType: 'application/json', mode: 'OUTPUT', data: JSON.stringify(answer), encoding: 'JSON' },
    },
    eventMetadata: { eventId: `event-${requestId}`, inferenceId: requestId, inferenceTime: '2024-05-06T07:08:09Z' },
    eventVersion: '0',
  });
}

/** The EventBridge event S3 sends for a new object of the data bucket. */
function objectCreated(key: string, bucket = 'data-bucket') {
  return { version: '0', source: 'aws.s3', 'detail-type': 'Object Created', detail: { bucket: { name: bucket }, object: { key: encodeURIComponent(key).replaceAll('%2F', '/') } } };
}

async function captureKeys(): Promise<string[]> {
  const page = await s3.client.send(new ListObjectsV2Command({ Bucket: 'data-bucket', Prefix: 'capture/' }));
  return (page.Contents ?? []).map((o) => o.Key!);
}

async function readRecords(key: string): Promise<CaptureRecord[]> {
  const object = await s3.client.send(new GetObjectCommand({ Bucket: 'data-bucket', Key: key }));
  return (await object.Body!.transformToString()).trim().split('\n').map((line) => JSON.parse(line) as CaptureRecord);
}

beforeAll(async () => {
  demo = await trainDemoPackage(tmp.path);
  s3 = await startEmbeddedS3({ directory: tmp.file('s3'), port: 0, buckets: ['models-bucket', 'data-bucket'] });
  await uploadPackage(s3, 'models-bucket', demo);
  const body = [await capturedCall(demo, 'req-1'), '{"captureData": {"endpointInput"', await capturedCall(demo, 'req-2')].join('\n');
  await s3.client.send(new PutObjectCommand({ Bucket: 'data-bucket', Key: RAW_KEY, Body: `${body}\n` }));
  Object.assign(process.env, {
    MODEL_BUCKET: 'models-bucket',
    DATA_BUCKET: 'data-bucket',
    MODEL_VERSIONS: JSON.stringify({ demo: '1.0.0' }),
    ...handlerEnvironmentFor(s3),
  });
  ({ handler } = await import('../../functions/capture-convert/handler'));
});

afterAll(async () => {
  await s3?.close();
});

describe('the capture converter Lambda handler', () => {
  it('writes the rows of every good line under capture/<model>/<version>/ and counts the malformed line', async () => {
    const outcome = await handler(objectCreated(RAW_KEY), context);

    expect(outcome).toMatchObject({ status: 'converted', lines: 3, rows: 6, malformed: [{ line: 2, reason: expect.stringMatching(/JSON/) }] });
    const keys = await captureKeys();
    expect(keys).toEqual([expect.stringMatching(/^capture\/demo\/1\.0\.0\/\d{4}\/\d{2}\/\d{2}\/\d{2}\/\d{8}T\d{6}Z-sm-[0-9a-f]{32}\.jsonl$/)]);
    const records = await readRecords(keys[0]!);
    expect(records.map((r) => `${r.requestId}#${r.row}`)).toEqual(['req-1#0', 'req-1#1', 'req-1#2', 'req-2#0', 'req-2#1', 'req-2#2']);
  });

  it('records the predictions the serverless path makes for the same rows', async () => {
    const engine = new InferenceEngine(new StaticModelSource([demo]), { batching: false });
    const served = await engine.model('demo');
    const scores = await served.predict(decodeInstances({ instances }, demo.manifest, DEFAULT_LIMITS));
    await engine.release();

    const records = await readRecords((await captureKeys())[0]!);

    records.slice(0, 3).forEach((record, row) => {
      const expected = Array.from(scores.values.subarray(row * scores.width, (row + 1) * scores.width));
      record.prediction.probabilities!.forEach((p, k) => expect(p).toBeCloseTo(expected[k]!, 5));
    });
    expect(records[0]!.features).toMatchObject({ age: 41, plan: 'basic', region: 'eu' });
  });

  it('converts a redelivered event into the same single object', async () => {
    const before = await captureKeys();

    await handler(objectCreated(RAW_KEY), context);

    expect(await captureKeys()).toEqual(before);
  });

  it('skips capture of a model that has no GPU endpoint, writing nothing', async () => {
    const key = RAW_KEY.replace('capture-raw/demo/', 'capture-raw/other/');
    await s3.client.send(new PutObjectCommand({ Bucket: 'data-bucket', Key: key, Body: await capturedCall(demo, 'req-3') }));
    const before = await captureKeys();

    const outcome = await handler(objectCreated(key), context);

    expect(outcome).toMatchObject({ status: 'skipped', reason: 'model "other" is not served by a GPU endpoint' });
    expect(await captureKeys()).toEqual(before);
  });

  it('writes nothing for an object whose every line is malformed', async () => {
    const key = RAW_KEY.replace('5c3f7d1e', 'garbage0');
    await s3.client.send(new PutObjectCommand({ Bucket: 'data-bucket', Key: key, Body: 'not json\n{"captureData": {}}\n' }));
    const before = await captureKeys();

    const outcome = await handler(objectCreated(key), context);

    expect(outcome).toMatchObject({ status: 'empty', lines: 2, malformed: [{ line: 1 }, { line: 2 }] });
    expect(await captureKeys()).toEqual(before);
  });

  it('ignores an event of another bucket', async () => {
    expect(await handler(objectCreated(RAW_KEY, 'other-bucket'), context)).toBeUndefined();
  });
});

describe('captureConvertEnv', () => {
  it('names MODEL_VERSIONS when it is not JSON', () => {
    expect(() => captureConvertEnv({ MODEL_BUCKET: 'models-bucket', DATA_BUCKET: 'data-bucket', MODEL_VERSIONS: '{demo' })).toThrow(/MODEL_VERSIONS: not JSON/);
  });
});
