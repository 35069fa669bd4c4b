import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceEngine } from '../../core/model/engine';
import type { ModelPackage } from '../../core/model/model-package';
import { Predictor } from '../../core/model/predictor';
import { StaticModelSource } from '../../core/model/registry';
import { startApiServer } from '../../local/api-server';
import { churnInstance, trainDemoPackage } from '../helpers/demo-package';
import { type ClientRequest, decodeResponse, encodeRequest, tensorBytes } from '../helpers/oip-binary-client';
import { useTempDir } from '../helpers/tmp';

/** The binary tensor data extension over real HTTP, spoken as the reference clients speak it. */

const tmp = useTempDir();
let pkg: ModelPackage;
let url: string;
let close: () => Promise<void>;
let engine: InferenceEngine;
let direct: Predictor;

// The churn instance and a second row, in the manifest's feature order (plan, region, channel as level indices).
const rows = [
  [41, 52000, 6, 2.5, 4, 80.5, 0, 1, 0],
  [29, 31000, 30, 6, 0, 20, 1, 0, 1],
];
const matrix = Float32Array.from(rows.flat());
let expected: { probabilities: number[]; labels: string[] };

beforeAll(async () => {
  pkg = await trainDemoPackage(tmp.path);
  engine = new InferenceEngine(new StaticModelSource([pkg]));
  ({ url, close } = await startApiServer({ engine, requiredModels: ['demo']}, { port: 0 }));
  direct = await Predictor.create(pkg);
  const scores = await direct.predict({ data: matrix, rows: 2, cols: 9 });
  const classes = pkg.manifest.output.classes!;
  const probabilities = Array.from(scores.values);
  expected = { probabilities, labels: [0, 1].map((r) => classes[probabilities[2 * r]! >= probabilities[2 * r + 1]! ? 0 : 1]!) };
});

afterAll(async () => {
  await close?.();
  await engine?.release();
  await direct?.release();
});

async function infer(request: ClientRequest) {
  const { body, headers } = encodeRequest(request);
  return send(body, headers);
}

async function send(body: Buffer, headers: Record<string, string>) {
  const response = await fetch(`${url}/v2/models/demo/infer`, { method: 'POST', headers, body });
  const bytes = Buffer.from(await response.arrayBuffer());
  return { status: response.status, headers: response.headers, bytes };
}

async function errorOf(body: Buffer, headers: Record<string, string>) {
  const response = await send(body, headers);
  return { status: response.status, ...(JSON.parse(response.bytes.toString('utf8')) as { error: string; field?: string }) };
}

const wholeTensor = { name: 'features', datatype: 'FP32', shape: [2, 9], values: matrix } as const;

describe('binary tensor requests (tritonclient.http defaults)', () => {
  it('scores a binary FP32 tensor and answers every output as binary, exactly as ONNX Runtime scores it', async () => {
    const response = await infer({ inputs: [wholeTensor] });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/octet-stream');
    const decoded = decodeResponse(response.bytes, response.headers.get('inference-header-content-length'));
    expect(decoded.header.outputs.map((o) => [o.name, o.datatype, o.shape])).toEqual([
      ['probabilities', 'FP32', [2, 2]],
      ['label', 'BYTES', [2]],
    ]);
    expect(decoded.outputs.get('probabilities')).toEqual(expected.probabilities);
    expect(decoded.outputs.get('label')).toEqual(expected.labels);
  });

  it('accepts the asyncio client\'s application/octet-stream label on a binary body', async () => {
    const response = await infer({ inputs: [wholeTensor], style: 'asyncio' });
    expect(response.status).toBe(200);
    expect(decodeResponse(response.bytes, response.headers.get('inference-header-content-length')).outputs.get('label')).toEqual(expected.labels);
  });

  it('accepts a JSON body labelled application/octet-stream (the asyncio client with JSON tensors)', async () => {
    const response = await infer({ inputs: [{ ...wholeTensor, binary: false }], outputs: [{ name: 'label', binary: false }], style: 'asyncio' });
    expect(response.status).toBe(200);
    expect(response.headers.get('inference-header-content-length')).toBeNull();
    expect(JSON.parse(response.bytes.toString('utf8')).outputs[0].data).toEqual(expected.labels);
  });

  it('answers binary only the outputs that ask for it', async () => {
    const response = await infer({ inputs: [wholeTensor], outputs: [{ name: 'probabilities', binary: false }, { name: 'label', binary: true }] });
    const decoded = decodeResponse(response.bytes, response.headers.get('inference-header-content-length'));
    expect(decoded.header.outputs[0]!.data).toHaveLength(4);
    expect(decoded.header.outputs[1]!.parameters).toMatchObject({ binary_data_size: expect.any(Number) });
    expect(decoded.outputs.get('label')).toEqual(expected.labels);
  });

  it('scores per-feature binary tensors: FP32 and INT64 numbers, BYTES strings with 4-byte length prefixes', async () => {
    const numeric = ['age', 'income', 'tenure_months', 'sessions_per_week', 'support_tickets', 'monthly_spend'] as const;
    const inputs = [
      ...numeric.map((name, j) =>
        name === 'age' ? { name, datatype: 'INT64', shape: [2], values: BigInt64Array.from(rows.map((r) => BigInt(r[j]!))) } : { name, datatype: 'FP32', shape: [2, 1], values: Float32Array.from(rows.map((r) => r[j]!)) },
      ),
      { name: 'plan', datatype: 'BYTES', shape: [2], values: ['basic', 'pro'] },
      { name: 'region', datatype: 'BYTES', shape: [2], values: ['eu', 'na'] },
      { name: 'channel', datatype: 'BYTES', shape: [2], values: ['web', 'mobile'] },
    ];
    const response = await infer({ inputs });
    expect(response.status).toBe(200);
    const decoded = decodeResponse(response.bytes, response.headers.get('inference-header-content-length'));
    decoded.outputs.get('probabilities')!.forEach((p, k) => expect(p).toBeCloseTo(expected.probabilities[k]!, 6));
    expect(decoded.outputs.get('label')).toEqual(expected.labels);
  });

  it('mixes binary and JSON inputs in one request', async () => {
    const request = {
      inputs: [
        { name: 'age', datatype: 'FP32', shape: [1], values: Float32Array.of(41), binary: false },
        ...Object.entries(churnInstance)
          .filter(([name]) => name !== 'age')
          .map(([name, v]) => (typeof v === 'string' ? { name, datatype: 'BYTES', shape: [1], values: [v] } : { name, datatype: 'FP64', shape: [1], values: Float64Array.of(v) })),
      ],
    };
    const response = await infer(request);
    expect(response.status).toBe(200);
    expect(decodeResponse(response.bytes, response.headers.get('inference-header-content-length')).outputs.get('label')).toEqual([expected.labels[0]]);
  });

  it('reads a binary NaN as a missing value, refused for a required feature', async () => {
    const values = matrix.slice(0, 9);
    values[0] = Number.NaN; // age is required
    const { body, headers } = encodeRequest({ inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 9], values }] });
    const refused = await errorOf(body, headers);
    expect(refused).toMatchObject({ status: 400, field: 'age' });
    expect(refused.error).toMatch(/required but missing/);
  });

  it('refuses an infinite binary float, naming the feature', async () => {
    const values = matrix.slice(0, 9);
    values[1] = Number.POSITIVE_INFINITY;
    const { body, headers } = encodeRequest({ inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 9], values }] });
    expect(await errorOf(body, headers)).toMatchObject({ status: 400, field: 'income' });
  });

  it('says binary_tensor_data among the server\'s extensions', async () => {
    const metadata = (await (await fetch(`${url}/v2`)).json()) as { extensions: string[] };
    expect(metadata.extensions).toContain('binary_tensor_data');
  });
});

describe('bad binary framing is a 400 naming the tensor', () => {
  const frame = (header: unknown, binary: Buffer, headerLength?: number) => {
    const json = Buffer.from(JSON.stringify(header));
    return [Buffer.concat([json, binary]), { 'inference-header-content-length': String(headerLength ?? json.length) }] as const;
  };
  const input = (size: number, extra: Record<string, unknown> = {}) => ({ name: 'features', shape: [2, 9], datatype: 'FP32', parameters: { binary_data_size: size }, ...extra });

  it('refuses a header length beyond the body', async () => {
    const [body, headers] = frame({ inputs: [input(72)] }, tensorBytes(matrix), 10_000);
    expect(await errorOf(body, headers)).toMatchObject({ status: 400, field: 'inference-header-content-length' });
  });

  it('refuses a header length that is not a number', async () => {
    const [body] = frame({ inputs: [input(72)] }, tensorBytes(matrix));
    expect(await errorOf(body, { 'inference-header-content-length': '12abc' })).toMatchObject({ status: 400, field: 'inference-header-content-length' });
  });

  it('refuses a binary_data_size that does not match shape × datatype', async () => {
    const [body, headers] = frame({ inputs: [input(68)] }, tensorBytes(matrix).subarray(0, 68));
    const error = await errorOf(body, headers);
    expect(error).toMatchObject({ status: 400, field: 'inputs[0].parameters.binary_data_size' });
    expect(error.error).toMatch(/"features" of shape \[2, 9\] and datatype FP32 takes 72 bytes, not 68/);
  });

  it('refuses data and binary_data_size together', async () => {
    const [body, headers] = frame({ inputs: [input(72, { data: Array.from(matrix) })] }, tensorBytes(matrix));
    expect(await errorOf(body, headers)).toMatchObject({ status: 400, field: 'inputs[0].data' });
  });

  it('refuses fewer bytes than the inputs declare', async () => {
    const [body, headers] = frame({ inputs: [input(72)] }, tensorBytes(matrix).subarray(0, 40));
    expect(await errorOf(body, headers)).toMatchObject({ status: 400, field: 'inputs[0].parameters.binary_data_size' });
  });

  it('refuses bytes left over after the declared inputs', async () => {
    const [body, headers] = frame({ inputs: [input(72)] }, Buffer.concat([tensorBytes(matrix), Buffer.alloc(8)]));
    expect(await errorOf(body, headers)).toMatchObject({ status: 400, field: 'inference-header-content-length' });
  });

  it('refuses a BYTES element whose length prefix runs past the tensor', async () => {
    const bytes = Buffer.alloc(7);
    bytes.writeUInt32LE(100, 0);
    const [body, headers] = frame({ inputs: [{ name: 'plan', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: 7 } }] }, bytes);
    const error = await errorOf(body, headers);
    expect(error).toMatchObject({ status: 400, field: 'inputs[0]' });
    expect(error.error).toMatch(/declares 100 bytes/);
  });

  it('refuses an input with neither data nor binary_data_size', async () => {
    const [body, headers] = frame({ inputs: [{ name: 'features', shape: [1, 9], datatype: 'FP32' }] }, Buffer.alloc(0));
    expect(await errorOf(body, headers)).toMatchObject({ status: 400, field: 'inputs[0].data' });
  });
});
