import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DirectoryStore } from '../../core/model/blob-store';
import { InferenceEngine } from '../../core/model/engine';
import type { ModelPackage } from '../../core/model/model-package';
import { OnnxSession } from '../../core/model/onnx-session';
import { StaticModelSource } from '../../core/model/registry';
import type { HttpRequest, HttpResponse } from '../../core/protocol/http';
import { handleApiRequest } from '../../core/protocol/router';
import { createEndpointProxyApp } from '../../functions/endpoint-proxy/app';
import { endpointProxyEnv } from '../../functions/endpoint-proxy/env';
import { handleProxyRequest, type ProxyDependencies } from '../../functions/endpoint-proxy/proxy';
import { decodeResponse, encodeRequest } from '../helpers/oip-binary-client';
import { createSageMakerRuntimeClient } from '../../functions/endpoint-proxy/sagemaker';
import { EMBEDDED_S3_CREDENTIALS, type EmbeddedS3, startEmbeddedS3 } from '../../local/embedded-s3';
import { writeGeneratedCsv } from '../../model-pipeline/data/generate';
import { trainPackage } from '../../model-pipeline/train/train-package';
import { churnInstance, trainDemoPackage } from '../helpers/demo-package';
import { uploadPackage } from '../helpers/embedded-buckets';
import { useTempDir } from '../helpers/tmp';

// --- A stand-in for SageMaker's runtime API with a Triton container behind it ----------------

/** What the stand-in does with the next call to an endpoint. */
type Behaviour = 'ok' | 'throttle' | 'throttle-400' | 'unavailable' | 'model-error' | 'hang';

/** One InvokeEndpoint call as the stand-in received it. */
interface Call {
  endpoint: string;
  contentType: string;
  inferenceId: string | undefined;
  body: Buffer;
}

/**
 * The InvokeEndpoint wire protocol (REST JSON: POST /endpoints/<name>/invocations, the body
 * passed through, errors as a status with an x-amzn-ErrorType header) in front of what Triton
 * does with an OIP v2 request: ONNX Runtime runs the model and the raw output tensor comes back.
 * It reads requests on its own (JSON or binary+json), not with the proxy's decoder.
 */
class SageMakerStandIn {
  readonly calls: Call[] = [];
  private readonly scripts = new Map<string, Behaviour[]>();
  private readonly hanging = new Set<ServerResponse>();
  private server!: Server;
  url = '';

  constructor(private readonly models: ReadonlyMap<string, { pkg: ModelPackage; session: OnnxSession }>) {}

  /** The next calls to `endpoint` behave as listed, then 'ok'. */
  script(endpoint: string, ...behaviours: Behaviour[]): void {
    this.scripts.set(endpoint, behaviours);
  }

  callsTo(endpoint: string): Call[] {
    return this.calls.filter((c) => c.endpoint === endpoint);
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const match = /^\/endpoints\/([^/]+)\/invocations$/.exec(req.url ?? '');
    if (req.method !== 'POST' || !match) return this.error(res, 404, 'UnknownOperationException', 'no such operation');
    const endpoint = decodeURIComponent(match[1]!);
    const call: Call = {
      endpoint,
      contentType: req.headers['content-type'] ?? '',
      inferenceId: req.headers['x-amzn-sagemaker-inference-id'] as string | undefined,
      body: Buffer.concat(chunks),
    };
    this.calls.push(call);
    const model = this.models.get(endpoint);
    if (!model) return this.error(res, 400, 'ValidationError', `Endpoint ${endpoint} of account 123456789012 not found.`);
    const behaviour = this.scripts.get(endpoint)?.shift() ?? 'ok';
    switch (behaviour) {
      case 'throttle':
        return this.error(res, 429, 'ThrottlingException', 'Rate exceeded');
      case 'throttle-400':
        return this.error(res, 400, 'ThrottlingException', 'Rate exceeded');
      case 'unavailable':
        return this.error(res, 503, 'ServiceUnavailable', 'Service unavailable');
      case 'model-error':
        return this.error(res, 424, 'ModelError', 'Received client error (400) from primary with message "unexpected shape"', {
          OriginalStatusCode: 400,
          OriginalMessage: '{"error":"unexpected shape for input features"}',
          LogStreamArn: 'arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/x',
        });
      case 'hang':
        this.hanging.add(res);
        return;
      case 'ok':
        return this.infer(res, call, model.pkg, model.session);
    }
  }

  /** Triton: read the OIP v2 request, run the model, answer its raw output. */
  private async infer(res: ServerResponse, call: Call, pkg: ModelPackage, session: OnnxSession): Promise<void> {
    const headerSize = /json-header-size=(\d+)/.exec(call.contentType)?.[1];
    const headerBytes = headerSize === undefined ? call.body : call.body.subarray(0, Number(headerSize));
    const request = JSON.parse(headerBytes.toString('utf8')) as { inputs: Array<{ name: string; shape: number[]; datatype: string; data?: number[] }> };
    const input = request.inputs[0]!;
    const data =
      input.data !== undefined
        ? Float32Array.from(input.data.flat())
        : new Float32Array(call.body.buffer.slice(call.body.byteOffset + Number(headerSize), call.body.byteOffset + call.body.length));
    const { tensor } = pkg.manifest.output;
    const outputs = await session.run(input.name, { data, rows: input.shape[0]!, cols: input.shape[1]! }, [tensor]);
    const output = outputs[tensor]!;
    const body = { model_name: pkg.manifest.name, model_version: '1', outputs: [{ name: tensor, datatype: 'FP32', shape: [...output.dims], data: Array.from(output.data as Float32Array) }] };
    res.writeHead(200, { 'content-type': 'application/json', 'x-amzn-invoked-production-variant': 'AllTraffic' }).end(JSON.stringify(body));
  }

  private error(res: ServerResponse, status: number, type: string, message: string, extra: object = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': type }).end(JSON.stringify({ message, ...extra }));
  }
}

// --- Setup ----------------------------------------------------------------------------------

const tmp = useTempDir('mlops-proxy-');
let s3: EmbeddedS3;
let standIn: SageMakerStandIn;
let sagemaker: SageMakerRuntimeClient;
let demo: ModelPackage;
let sparse: ModelPackage;
let serverless: InferenceEngine;
let app: ProxyDependencies;

const ENDPOINTS = { demo: { endpoint: 'mlops-test-demo', version: '1.0.0' }, sparse: { endpoint: 'mlops-test-sparse', version: '1.0.0' } };

/** The proxy's environment as the construct sets it, with short backoffs. */
function proxyEnv(overrides: Record<string, string> = {}) {
  return endpointProxyEnv({
    MODEL_BUCKET: 'models-bucket',
    ENDPOINTS: JSON.stringify(ENDPOINTS),
    INVOKE_TIMEOUT_MS: '5000',
    MAX_ATTEMPTS: '3',
    RETRY_BASE_DELAY_MS: '5',
    RETRY_MAX_DELAY_MS: '20',
    ...overrides,
  });
}

/** A package trained on data with missing incomes: its manifest marks income nullable. */
async function trainSparsePackage(): Promise<ModelPackage> {
  const data = tmp.file('sparse-train.csv');
  await writeGeneratedCsv(data, { rows: 3000, seed: 2, drift: { missing: { income: 0.1 } } });
  const { pkg } = await trainPackage(new DirectoryStore(join(tmp.path, 'sparse', '1.0.0')), { data, label: 'churned', name: 'sparse', version: '1.0.0', epochs: 10 });
  return pkg;
}

beforeAll(async () => {
  [demo, sparse] = await Promise.all([trainDemoPackage(tmp.path), trainSparsePackage()]);
  s3 = await startEmbeddedS3({ directory: tmp.file('s3'), port: 0, buckets: ['models-bucket'] });
  await uploadPackage(s3, 'models-bucket', demo);
  await uploadPackage(s3, 'models-bucket', sparse);
  standIn = new SageMakerStandIn(
    new Map([
      ['mlops-test-demo', { pkg: demo, session: await OnnxSession.create(demo.files.get('model.onnx')!) }],
      ['mlops-test-sparse', { pkg: sparse, session: await OnnxSession.create(sparse.files.get('model.onnx')!) }],
    ]),
  );
  await standIn.start();
  sagemaker = createSageMakerRuntimeClient({ endpoint: standIn.url, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
  app = createEndpointProxyApp(proxyEnv(), { s3: s3.client, sagemaker });
  // The serverless path on the same packages: the reference the GPU path must match.
  serverless = new InferenceEngine(new StaticModelSource([demo, sparse]), { batching: false });
});

afterAll(async () => {
  sagemaker?.destroy();
  await standIn?.close();
  await serverless?.release();
  await s3?.close();
});

beforeEach(() => {
  standIn.calls.length = 0;
});

let requestCount = 0;
function request(method: string, path: string, body?: unknown): HttpRequest {
  return {
    method,
    path,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body),
    requestId: `req-${++requestCount}`,
  };
}

function parse(response: HttpResponse): Record<string, unknown> {
  return JSON.parse(response.body as string) as Record<string, unknown>;
}

const instances = [churnInstance, { ...churnInstance, plan: 'pro', age: 63, support_tickets: 0 }, { ...churnInstance, region: 'apac', monthly_spend: 12 }];

// --- Specifications -------------------------------------------------------------------------

describe('the endpoint proxy, answering from the endpoint', () => {
  it('answers /predict with the predictions the serverless path gives for the same model', async () => {
    const req = request('POST', '/models/demo/predict', { instances });

    const gpu = await handleProxyRequest(req, app);
    const reference = await handleApiRequest(req, { engine: serverless });

    expect(gpu.status).toBe(200);
    expect(parse(gpu)).toEqual(parse(reference));
  });

  it('answers OIP v2 /infer with the outputs the serverless path gives', async () => {
    const body = { id: 'abc', inputs: [{ name: 'features', shape: [2, demo.manifest.input.features.length], datatype: 'FP32', data: [[41, 52000, 6, 2.5, 4, 80.5, 0, 1, 2], [30, 1000, 1, 1, 0, 10, 1, 0, 0]] }] };
    const req = request('POST', '/v2/models/demo/infer', body);

    const gpu = await handleProxyRequest(req, app);
    const reference = await handleApiRequest(req, { engine: serverless });

    expect(gpu.status).toBe(200);
    expect(parse(gpu)).toEqual(parse(reference));
    expect(parse(gpu)).toMatchObject({ id: 'abc', outputs: [{ name: 'probabilities', shape: [2, 2] }, { name: 'label', shape: [2] }] });
  });

  it('answers binary tensors (the Triton client defaults) with the binary outputs the serverless path gives', async () => {
    const values = Float32Array.of(41, 52000, 6, 2.5, 4, 80.5, 0, 1, 2, 30, 1000, 1, 1, 0, 10, 1, 0, 0);
    const { body, headers } = encodeRequest({ inputs: [{ name: 'features', datatype: 'FP32', shape: [2, 9], values }] });
    const req: HttpRequest = { method: 'POST', path: '/v2/models/demo/infer', headers, body, requestId: `req-${++requestCount}` };

    const gpu = await handleProxyRequest(req, app);
    const reference = await handleApiRequest(req, { engine: serverless });

    expect(gpu.status).toBe(200);
    const decode = (response: HttpResponse) => decodeResponse(Buffer.from(response.body as Uint8Array), response.headers['inference-header-content-length']!).outputs;
    expect(decode(gpu)).toEqual(decode(reference));
    expect(decode(gpu).get('label')).toHaveLength(2);
  });

  it('sends the endpoint an OIP v2 JSON body: the model input as one FP32 tensor [N, F]', async () => {
    await handleProxyRequest(request('POST', '/models/demo/predict', { instances }), app);

    const [call] = standIn.callsTo('mlops-test-demo');
    const sent = JSON.parse(call!.body.toString('utf8'));
    expect(call!.contentType).toBe('application/json');
    expect(sent.inputs).toEqual([{ name: 'features', shape: [3, 9], datatype: 'FP32', data: expect.any(Array) }]);
    expect(sent.inputs[0].data).toHaveLength(27);
    expect(sent.outputs).toEqual([{ name: 'probabilities', parameters: { binary_data: false } }]);
  });

  it('passes the API request id as the InferenceId that data capture records', async () => {
    const req = request('POST', '/models/demo/predict', { instances: [churnInstance] });

    await handleProxyRequest(req, app);

    expect(standIn.callsTo('mlops-test-demo')[0]?.inferenceId).toBe(req.requestId);
  });

  it('sends a missing value of a nullable feature as a binary tensor and matches the serverless path', async () => {
    expect(sparse.manifest.input.features.find((f) => f.name === 'income')).toMatchObject({ nullable: true });
    const req = request('POST', '/models/sparse/predict', { instances: [{ ...churnInstance, income: null }, churnInstance] });

    const gpu = await handleProxyRequest(req, app);
    const reference = await handleApiRequest(req, { engine: serverless });

    expect(standIn.callsTo('mlops-test-sparse')[0]?.contentType).toMatch(/^application\/vnd\.sagemaker-triton\.binary\+json;json-header-size=\d+$/);
    expect(gpu.status).toBe(200);
    expect(parse(gpu)).toEqual(parse(reference));
  });

  it('answers model metadata with the one version the endpoint serves', async () => {
    const response = await handleProxyRequest(request('GET', '/v2/models/demo'), app);

    expect(response.status).toBe(200);
    expect(parse(response)).toMatchObject({ name: 'demo', versions: ['1.0.0'], platform: 'onnxruntime_onnx' });
  });

  it('says ready when every endpoint\'s manifest loads', async () => {
    const response = await handleProxyRequest(request('GET', '/v2/health/ready'), app);

    expect(response.status).toBe(200);
  });
});

describe('the endpoint proxy under throttling', () => {
  it('retries a ThrottlingException (429) and answers 200 when a retry succeeds', async () => {
    standIn.script('mlops-test-demo', 'throttle', 'throttle');

    const response = await handleProxyRequest(request('POST', '/models/demo/predict', { instances }), app);

    expect(response.status).toBe(200);
    expect(standIn.callsTo('mlops-test-demo')).toHaveLength(3);
  });

  it('retries a ThrottlingException sent with status 400, as SageMaker documents it', async () => {
    standIn.script('mlops-test-demo', 'throttle-400');

    const response = await handleProxyRequest(request('POST', '/models/demo/predict', { instances }), app);

    expect(response.status).toBe(200);
    expect(standIn.callsTo('mlops-test-demo')).toHaveLength(2);
  });

  it('answers 503 with Retry-After once the attempts are used up', async () => {
    standIn.script('mlops-test-demo', 'throttle', 'throttle', 'throttle', 'throttle');

    const response = await handleProxyRequest(request('POST', '/models/demo/predict', { instances }), app);

    expect(response.status).toBe(503);
    expect(Number(response.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(parse(response)).toMatchObject({ code: 'endpoint_throttled', error: expect.stringMatching(/throttled after 3 attempts/) });
    expect(standIn.callsTo('mlops-test-demo')).toHaveLength(3);
  });

  it('answers 503 when SageMaker stays unavailable', async () => {
    standIn.script('mlops-test-demo', 'unavailable', 'unavailable', 'unavailable');

    const response = await handleProxyRequest(request('POST', '/models/demo/predict', { instances }), app);

    expect(response.status).toBe(503);
    expect(parse(response)).toMatchObject({ code: 'endpoint_unavailable' });
  });
});

describe('the endpoint proxy when the endpoint fails', () => {
  it('answers a ModelError with 502, saying the input was valid, without retrying', async () => {
    standIn.script('mlops-test-demo', 'model-error');

    const response = await handleProxyRequest(request('POST', '/models/demo/predict', { instances }), app);

    expect(response.status).toBe(502);
    expect(parse(response)).toMatchObject({ code: 'endpoint_model_error', error: expect.stringMatching(/passed validation \(status 400\); this is not a problem with your input/) });
    expect(standIn.callsTo('mlops-test-demo')).toHaveLength(1);
  });

  it('tells the operator what the container said, and not the client', async () => {
    standIn.script('mlops-test-demo', 'model-error');
    const told: string[] = [];
    const observed = { ...app, onEndpointError: (error: { detail?: string }) => void told.push(error.detail ?? '') };

    const response = await handleProxyRequest(request('POST', '/models/demo/predict', { instances }), observed);

    expect(told[0]).toMatch(/ModelError: .*unexpected shape/);
    expect(response.body).not.toContain('unexpected shape');
  });

  it('answers 504 when the endpoint does not answer within the budget', async () => {
    const impatient = createEndpointProxyApp(proxyEnv({ INVOKE_TIMEOUT_MS: '300' }), { s3: s3.client, sagemaker });
    standIn.script('mlops-test-demo', 'hang');

    const response = await handleProxyRequest(request('POST', '/models/demo/predict', { instances }), impatient);

    expect(response.status).toBe(504);
    expect(parse(response)).toMatchObject({ code: 'endpoint_timeout' });
    expect(standIn.callsTo('mlops-test-demo')).toHaveLength(1);
  });

  it('answers 502 when SageMaker refuses the call (an endpoint that does not exist)', async () => {
    const misconfigured = createEndpointProxyApp(proxyEnv({ ENDPOINTS: JSON.stringify({ demo: { endpoint: 'mlops-test-gone', version: '1.0.0' } }) }), { s3: s3.client, sagemaker });

    const response = await handleProxyRequest(request('POST', '/models/demo/predict', { instances }), misconfigured);

    expect(response.status).toBe(502);
    expect(parse(response)).toMatchObject({ code: 'endpoint_error' });
  });
});

describe('the endpoint proxy with invalid input', () => {
  it('answers 400 naming the field and never calls the endpoint', async () => {
    const response = await handleProxyRequest(request('POST', '/models/demo/predict', { instances: [{ ...churnInstance, age: 'old' }] }), app);

    expect(response.status).toBe(400);
    expect(parse(response)).toMatchObject({ code: 'invalid_feature', field: 'age', instance: 0 });
    expect(standIn.calls).toHaveLength(0);
  });

  it('answers 400 for an OIP tensor of the wrong width and never calls the endpoint', async () => {
    const body = { inputs: [{ name: 'features', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] };

    const response = await handleProxyRequest(request('POST', '/v2/models/demo/infer', body), app);

    expect(response.status).toBe(400);
    expect(parse(response)).toMatchObject({ field: 'inputs[0].shape' });
    expect(standIn.calls).toHaveLength(0);
  });

  it('answers 400 for a body that is not JSON', async () => {
    const response = await handleProxyRequest(request('POST', '/models/demo/predict', '{"instances": ['), app);

    expect(response.status).toBe(400);
    expect(parse(response)).toMatchObject({ code: 'invalid_json', field: 'body' });
    expect(standIn.calls).toHaveLength(0);
  });

  it('answers 413 for more rows than the limit', async () => {
    const limited = createEndpointProxyApp(proxyEnv({ MAX_BATCH_ROWS: '2' }), { s3: s3.client, sagemaker });

    const response = await handleProxyRequest(request('POST', '/models/demo/predict', { instances }), limited);

    expect(response.status).toBe(413);
    expect(standIn.calls).toHaveLength(0);
  });

  it('answers 404 for a model without a GPU endpoint', async () => {
    const response = await handleProxyRequest(request('POST', '/models/other/predict', { instances }), app);

    expect(response.status).toBe(404);
    expect(parse(response)).toMatchObject({ code: 'model_not_found', error: 'model "other" is not served by a GPU endpoint' });
  });

  it('answers 404 for a version other than the one the endpoint serves, naming that one', async () => {
    const response = await handleProxyRequest(request('POST', '/models/demo/versions/2.0.0/predict', { instances }), app);

    expect(response.status).toBe(404);
    expect(parse(response).error).toMatch(/no version "2\.0\.0" on its GPU endpoint; it serves 1\.0\.0/);
    expect(standIn.calls).toHaveLength(0);
  });

  it('answers 405 with Allow for a GET on a predict route', async () => {
    const response = await handleProxyRequest(request('GET', '/models/demo/predict'), app);

    expect(response.status).toBe(405);
    expect(response.headers.allow).toBe('POST');
  });
});

describe('the endpoint proxy Lambda handler', () => {
  let handler: (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

  beforeAll(async () => {
    Object.assign(process.env, {
      MODEL_BUCKET: 'models-bucket',
      ENDPOINTS: JSON.stringify(ENDPOINTS),
      S3_FORCE_PATH_STYLE: 'true',
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      // The SDK's service-specific endpoint variable: the handler's own client goes to the stand-in.
      AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME: standIn.url,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: EMBEDDED_S3_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: EMBEDDED_S3_CREDENTIALS.secretAccessKey,
      POWERTOOLS_TRACE_ENABLED: 'false',
    });
    ({ handler } = await import('../../functions/endpoint-proxy/handler'));
  });

  const context = { functionName: 'endpoint-proxy', awsRequestId: 'req', getRemainingTimeInMillis: () => 10_000 } as unknown as Context;

  it('maps an API Gateway event to the endpoint and back', async () => {
    const event = {
      httpMethod: 'POST',
      path: '/models/demo/predict',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ instances: [churnInstance] }),
      isBase64Encoded: false,
      requestContext: { requestId: 'api-1' },
    } as unknown as APIGatewayProxyEvent;

    const result = await handler(event, context);

    expect(result.statusCode).toBe(200);
    expect(JSON.parse(result.body)).toMatchObject({ model_name: 'demo', model_version: '1.0.0', predictions: [{ label: expect.any(String) }] });
    expect(standIn.callsTo('mlops-test-demo')[0]?.inferenceId).toBe('api-1');
  });
});

describe('endpointProxyEnv', () => {
  it('reads the endpoints from ENDPOINTS and fills in the retry defaults', () => {
    const env = endpointProxyEnv({ MODEL_BUCKET: 'models-bucket', ENDPOINTS: JSON.stringify(ENDPOINTS) });

    expect(env.ENDPOINTS.demo).toEqual({ endpoint: 'mlops-test-demo', version: '1.0.0' });
    expect(env).toMatchObject({ MAX_ATTEMPTS: 3, RETRY_BASE_DELAY_MS: 50, RETRY_MAX_DELAY_MS: 1000, INVOKE_TIMEOUT_MS: 10_000 });
  });

  it('names ENDPOINTS when it is not JSON', () => {
    expect(() => endpointProxyEnv({ MODEL_BUCKET: 'models-bucket', ENDPOINTS: '{demo' })).toThrow(/ENDPOINTS: not JSON/);
  });

  it('names the model entry that lacks an endpoint', () => {
    expect(() => endpointProxyEnv({ MODEL_BUCKET: 'models-bucket', ENDPOINTS: '{"demo":{"version":"1.0.0"}}' })).toThrow(/ENDPOINTS\.demo\.endpoint/);
  });
});
