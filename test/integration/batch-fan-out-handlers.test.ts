import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EMBEDDED_S3_CREDENTIALS, type EmbeddedS3, startEmbeddedS3 } from '../../local/embedded-s3';
import { generatedHeader, generateRows } from '../../model-pipeline/data/generate';
import { trainDemoPackage } from '../helpers/demo-package';
import { uploadPackage } from '../helpers/embedded-buckets';
import { useTempDir } from '../helpers/tmp';

/**
 * The deployed batch handler modules against a real S3 API (embedded) and a stand-in for the
 * Step Functions API on localhost: the queue's function routes large files to the state
 * machine once per key, ETag and model version; the plan, part and merge handlers, called in
 * the state machine's order, write what one run writes.
 */

const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:batch-fan-out';
const tmp = useTempDir();
let s3: EmbeddedS3;
let sfn: Server;
/** StartExecution requests the stand-in received, and the names it has. */
const started: { stateMachineArn: string; name: string; input: string }[] = [];
let sqsHandler: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;
let steps: typeof import('../../functions/batch/fan-out-handler');

beforeAll(async () => {
  s3 = await startEmbeddedS3({ directory: tmp.file('s3'), port: 0, buckets: ['models', 'data'] });
  await uploadPackage(s3, 'models', await trainDemoPackage(tmp.path));
  // Step Functions' JSON protocol: StartExecution, and ExecutionAlreadyExists for a name it has.
  sfn = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const request = JSON.parse(body) as { stateMachineArn: string; name: string; input: string };
      res.setHeader('Content-Type', 'application/x-amz-json-1.0');
      if (started.some((s) => s.name === request.name)) {
        res.statusCode = 400;
        return res.end(JSON.stringify({ __type: 'com.amazonaws.swf.service.v2.model#ExecutionAlreadyExists', message: `Execution Already Exists: '${request.name}'` }));
      }
      started.push(request);
      res.end(JSON.stringify({ executionArn: `${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${request.name}`, startDate: Date.now() / 1000 }));
    });
  });
  await new Promise<void>((resolve) => sfn.listen(0, '127.0.0.1', resolve));
  Object.assign(process.env, {
    MODEL_BUCKET: 'models',
    DATA_BUCKET: 'data',
    CHUNK_ROWS: '16',
    STATE_MACHINE_ARN,
    FAN_OUT_ABOVE_BYTES: '3000',
    PART_BYTES: '1000',
    S3_FORCE_PATH_STYLE: 'true',
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_ENDPOINT_URL_SFN: `http://127.0.0.1:${(sfn.address() as AddressInfo).port}`,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: EMBEDDED_S3_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: EMBEDDED_S3_CREDENTIALS.secretAccessKey,
    POWERTOOLS_TRACE_ENABLED: 'false',
  });
  ({ handler: sqsHandler } = await import('../../functions/batch/handler'));
  steps = await import('../../functions/batch/fan-out-handler');
});

afterAll(async () => {
  await new Promise((resolve) => sfn?.close(resolve));
  await s3?.close();
});

const context = { functionName: 'batch', awsRequestId: 'req-1', getRemainingTimeInMillis: () => 60_000 } as unknown as Context;
const put = (key: string, body: string) => s3.client.send(new PutObjectCommand({ Bucket: 'data', Key: key, Body: body }));
const text = async (key: string) => (await s3.client.send(new GetObjectCommand({ Bucket: 'data', Key: key }))).Body!.transformToString();

function csv(rows: number, seed: number): string {
  return `${[generatedHeader().join(','), ...[...generateRows({ rows, seed })].map((r) => r.cells.join(','))].join('\n')}\n`;
}

/** An SQS message carrying EventBridge's "Object Created" event for a key of the data bucket. */
function objectCreated(key: string, messageId = key): SQSEvent {
  const body = { source: 'aws.s3', 'detail-type': 'Object Created', detail: { bucket: { name: 'data' }, object: { key } } };
  return { Records: [{ messageId, body: JSON.stringify(body) }] } as unknown as SQSEvent;
}

describe('the queue function', () => {
  it('scores a file at or below the threshold itself', async () => {
    await put('batch/input/demo/small.csv', csv(10, 31));

    expect(await sqsHandler(objectCreated('batch/input/demo/small.csv'), context)).toEqual({ batchItemFailures: [] });
    expect(JSON.parse(await text('batch/manifests/demo/small.csv.manifest.json'))).toMatchObject({ status: 'succeeded', rowsIn: 10 });
    expect(started).toEqual([]);
  });

  it('starts the state machine for a larger file, with the key, ETag and serving version as input', async () => {
    await put('batch/input/demo/large.csv', csv(100, 32));

    expect(await sqsHandler(objectCreated('batch/input/demo/large.csv'), context)).toEqual({ batchItemFailures: [] });
    expect(started).toEqual([{ stateMachineArn: STATE_MACHINE_ARN, name: expect.stringMatching(/^batch-[0-9a-f]{64}$/), input: expect.any(String) }]);
    expect(JSON.parse(started[0]!.input)).toEqual({ key: 'batch/input/demo/large.csv', etag: expect.any(String), version: '1.0.0' });
  });

  it('takes a redelivery of the same event as done: the execution name exists already', async () => {
    const response = await sqsHandler(objectCreated('batch/input/demo/large.csv', 'again'), context);

    expect(response).toEqual({ batchItemFailures: [] });
    expect(started).toHaveLength(1);
  });
});

describe('the state machine steps, in order', () => {
  it('plan, score every part and merge into one predictions file and one manifest', async () => {
    const input = JSON.parse(started[0]!.input);

    const plan = await steps.plan(input, context);
    expect(plan).toMatchObject({ status: 'planned', indexes: expect.any(Array) });
    for (const index of plan.indexes!) await steps.scorePart({ planKey: plan.planKey, index }, context);
    const merged = await steps.merge({ plan }, context);

    expect(merged).toEqual({ status: 'succeeded' });
    const manifest = JSON.parse(await text('batch/manifests/demo/large.csv.manifest.json'));
    expect(manifest).toMatchObject({ status: 'succeeded', rowsIn: 100, scored: 100, parts: plan.indexes!.length });
    expect(plan.indexes!.length).toBeGreaterThan(3);
    const predictions = (await text('batch/output/demo/large.csv.predictions.csv')).trim().split('\n');
    expect(predictions[0]).toBe('line,customer_id,churned,prediction,prob_no,prob_yes');
    expect(predictions.slice(1).map((l) => Number(l.split(',')[0]))).toEqual(Array.from({ length: 100 }, (_, i) => i + 2));
  });

  it('plan nothing for an input already scored', async () => {
    expect(await steps.plan(JSON.parse(started[0]!.input), context)).toEqual({ status: 'skipped' });
  });

  it('record a failed execution in a failed manifest naming the error', async () => {
    await put('batch/input/demo/doomed.csv', csv(100, 33));
    await sqsHandler(objectCreated('batch/input/demo/doomed.csv'), context);
    const input = JSON.parse(started.at(-1)!.input);
    await steps.plan(input, context);

    await steps.fail({ ...input, error: { Error: 'States.Timeout', Cause: 'part 2 timed out' } }, context);

    expect(JSON.parse(await text('batch/manifests/demo/doomed.csv.manifest.json'))).toMatchObject({
      status: 'failed',
      rowsIn: 0,
      error: 'the fan-out execution failed: States.Timeout: part 2 timed out',
    });
  });

  it('reject an input that is not what the state machine passes, naming the field', async () => {
    await expect(steps.scorePart({ planKey: 'x', index: -1 }, context)).rejects.toThrow(/scorePart: invalid input: index/);
  });
});
