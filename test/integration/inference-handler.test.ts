import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ModelLayout } from '../../core/layout';
import type { ModelPackage } from '../../core/model/model-package';
import { S3BlobStore } from '../../functions/shared/s3-blob-store';
import { EMBEDDED_S3_CREDENTIALS, type EmbeddedS3, startEmbeddedS3 } from '../../local/embedded-s3';
import { churnInstance, trainDemoPackage } from '../helpers/demo-package';
import { decodeResponse, encodeRequest } from '../helpers/oip-binary-client';
import { useTempDir } from '../helpers/tmp';

/** The deployed handler module, run against a real S3 API (embedded) with a real model. */

const tmp = useTempDir();
let s3: EmbeddedS3;
let pkg: ModelPackage;
let handler: (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

beforeAll(async () => {
  s3 = await startEmbeddedS3({ directory: tmp.file('s3'), port: 0, buckets: ['models-bucket', 'data-bucket'] });
  pkg = await trainDemoPackage(tmp.path);
  for (const [name, bytes] of [...pkg.files, ['manifest.json', new TextEncoder().encode(JSON.stringify(pkg.manifest))] as const]) {
    await s3.client.send(new PutObjectCommand({ Bucket: 'models-bucket', Key: `${ModelLayout.package('demo', '1.0.0')}${name}`, Body: bytes }));
  }
  Object.assign(process.env, {
    MODEL_BUCKET: 'models-bucket',
    DATA_BUCKET: 'data-bucket',
    MODEL_NAMES: 'demo',
    CAPTURE_MAX_AGE_MS: '50',
    S3_FORCE_PATH_STYLE: 'true',
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: EMBEDDED_S3_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: EMBEDDED_S3_CREDENTIALS.secretAccessKey,
    POWERTOOLS_TRACE_ENABLED: 'false',
  });
  ({ handler } = await import('../../functions/inference/handler'));
});

afterAll(async () => {
  await s3?.close();
});

const context = { functionName: 'inference', awsRequestId: 'req', getRemainingTimeInMillis: () => 10_000 } as unknown as Context;

function event(method: string, path: string, body?: unknown, headers: Record<string, string> = { 'Content-Type': 'application/json' }): APIGatewayProxyEvent {
  return {
    httpMethod: method,
    path,
    headers,
    body: body === undefined ? null : typeof body === 'string' ? body : JSON.stringify(body),
    isBase64Encoded: false,
    requestContext: { requestId: `api-${Math.random().toString(16).slice(2)}` },
  } as unknown as APIGatewayProxyEvent;
}

describe('the inference Lambda handler', () => {
  it('loads the model from S3 and predicts', async () => {
    const result = await handler(event('POST', '/models/demo/predict', { instances: [churnInstance] }), context);
    expect(result.statusCode).toBe(200);
    expect(JSON.parse(result.body)).toMatchObject({ model_name: 'demo', model_version: '1.0.0', predictions: [{ label: expect.any(String) }] });
  });

  it('reads mixed-case API Gateway headers and a base64 body', async () => {
    const e = event('POST', '/models/demo/predict', Buffer.from(JSON.stringify({ instances: [churnInstance] })).toString('base64'), { 'CONTENT-TYPE': 'application/json' });
    const result = await handler({ ...e, isBase64Encoded: true }, context);
    expect(result.statusCode).toBe(200);
  });

  it('takes binary tensors base64-encoded by API Gateway and answers binary outputs base64-encoded', async () => {
    const values = Float32Array.of(41, 52000, 6, 2.5, 4, 80.5, 0, 1, 0);
    const { body, headers } = encodeRequest({ inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 9], values }], style: 'asyncio' });
    const result = await handler({ ...event('POST', '/v2/models/demo/infer', body.toString('base64'), headers), isBase64Encoded: true }, context);
    expect(result).toMatchObject({ statusCode: 200, isBase64Encoded: true });
    const decoded = decodeResponse(Buffer.from(result.body, 'base64'), result.headers!['inference-header-content-length'] as string);
    const json = await handler(event('POST', '/models/demo/predict', { instances: [churnInstance] }), context);
    expect(decoded.outputs.get('label')).toEqual([JSON.parse(json.body).predictions[0].label]);
  });

  it('answers a client mistake with a 4xx naming the field', async () => {
    const result = await handler(event('POST', '/models/demo/predict', { instances: [{ ...churnInstance, age: 'old' }] }), context);
    expect(result.statusCode).toBe(400);
    expect(JSON.parse(result.body)).toMatchObject({ field: 'age', instance: 0 });
  });

  it('captures requests and predictions to the data bucket as JSONL partitioned by model, version and hour', async () => {
    const e = event('POST', '/models/demo/predict', { instances: [churnInstance, { ...churnInstance, plan: 'pro' }] });
    await handler(e, context);
    const store = new S3BlobStore(s3.client, 'data-bucket');
    let keys: string[] = [];
    for (let attempt = 0; attempt < 50 && keys.length === 0; attempt++) {
      await new Promise((r) => setTimeout(r, 100));
      keys = await store.list('capture/demo/1.0.0/');
    }
    expect(keys[0]).toMatch(/^capture\/demo\/1\.0\.0\/\d{4}\/\d{2}\/\d{2}\/\d{2}\/\d{8}T\d{6}Z-[0-9a-f-]+\.jsonl$/);
    const lines = (await Promise.all(keys.map(async (k) => new TextDecoder().decode(await store.read(k))))).join('').trim().split('\n').map((l) => JSON.parse(l));
    const mine = lines.filter((r) => r.requestId === e.requestContext.requestId);
    expect(mine).toHaveLength(2);
    expect(mine[1]).toMatchObject({ v: 1, row: 1, model: 'demo', version: '1.0.0', features: { plan: 'pro', age: 41 }, prediction: { label: expect.any(String) } });
    expect(mine[1].prediction.probabilities).toHaveLength(2);
  });

  it('publishes a ModelErrors metric with the model and the version that failed, for canary comparisons', async () => {
    // Version 1.1.0's model file does not match its manifest: it cannot load.
    for (const [name, bytes] of [...pkg.files, ['manifest.json', new TextEncoder().encode(JSON.stringify({ ...pkg.manifest, version: '1.1.0' }))] as const]) {
      const body = name === 'model.onnx' ? 'not a model' : bytes;
      await s3.client.send(new PutObjectCommand({ Bucket: 'models-bucket', Key: `${ModelLayout.package('demo', '1.1.0')}${name}`, Body: body }));
    }
    const written: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (written.push(String(chunk)), true));
    // Metrics are off in tests (vitest.config.ts); a per-version metric is created per event, so it sees this.
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
    try {
      const result = await handler(event('POST', '/models/demo/versions/1.1.0/predict', { instances: [churnInstance] }), context);
      expect(result.statusCode).toBe(500);
    } finally {
      spy.mockRestore();
      vi.unstubAllEnvs();
    }
    const metrics = written.flatMap((text) => text.split('\n')).filter((line) => line.includes('"_aws"')).map((line) => JSON.parse(line));

    expect(metrics).toContainEqual(expect.objectContaining({ ModelErrors: 1, model: 'demo', version: '1.1.0', service: 'mlops' }));
  });
});
