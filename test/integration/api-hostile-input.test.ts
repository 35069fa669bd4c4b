import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceEngine } from '../../core/model/engine';
import { StaticModelSource } from '../../core/model/registry';
import { startApiServer } from '../../local/api-server';
import { churnInstance, trainDemoPackage } from '../helpers/demo-package';
import { useTempDir } from '../helpers/tmp';

/** Numbers, types, sizes and headers a hostile or careless client sends: always a 4xx naming the field, never a 200 with nulls. */

const tmp = useTempDir();
let url: string;
let close: () => Promise<void>;
let engine: InferenceEngine;

beforeAll(async () => {
  engine = new InferenceEngine(new StaticModelSource([await trainDemoPackage(tmp.path)]));
  ({ url, close } = await startApiServer({ engine, requiredModels: ['demo'] }, { port: 0 }));
});

afterAll(async () => {
  await close?.();
  await engine?.release();
});

async function post(path: string, body: string | Buffer, headers: Record<string, string> = { 'content-type': 'application/json' }) {
  const response = await fetch(url + path, { method: 'POST', headers, body });
  const text = await response.text();
  return { status: response.status, bytes: text.length, body: JSON.parse(text) as Record<string, any> };
}

const predict = (instance: Record<string, unknown>) => post('/models/demo/predict', JSON.stringify({ instances: [instance] }));
const infer = (inputs: unknown[]) => post('/v2/models/demo/infer', JSON.stringify({ inputs }));
const whole = (datatype: string, data: unknown[]) => infer([{ name: 'features', shape: [1, 9], datatype, data }]);
const row = [41, 52000, 6, 2.5, 4, 80.5, 0, 1, 0];
const perFeature = (overrides: Record<string, unknown> = {}) =>
  Object.entries({ ...churnInstance }).map(([name, v]) => ({ name, shape: [1], datatype: typeof v === 'string' ? 'BYTES' : 'FP64', data: [v], ...((overrides[name] as object) ?? {}) }));

describe('numbers the model cannot take', () => {
  for (const value of [3.5e38, 1e39, -1e300]) {
    it(`refuses ${value} (finite in JSON, infinite as float32) in an instance, naming the field and the value`, async () => {
      const { status, body } = await predict({ ...churnInstance, income: value });
      expect(status).toBe(400);
      expect(body).toMatchObject({ field: 'income', instance: 0 });
      expect(body.error).toContain(String(value));
    });
  }

  it('refuses a float32 overflow in the whole OIP tensor', async () => {
    const { status, body } = await whole('FP32', row.map((v, k) => (k === 1 ? 1e39 : v)));
    expect(status).toBe(400);
    expect(body.field).toBe('income');
  });

  it('refuses a float32 overflow in a per-feature FP64 tensor', async () => {
    const { status, body } = await infer(perFeature({ monthly_spend: { data: [3.5e38] } }));
    expect(status).toBe(400);
    expect(body.field).toBe('monthly_spend');
  });

  for (const token of ['NaN', 'Infinity', '-Infinity']) {
    it(`answers 400 invalid_json to a bare ${token} token`, async () => {
      const { status, body } = await post('/models/demo/predict', JSON.stringify({ instances: [{ ...churnInstance, age: 0 }] }).replace('"age":0', `"age":${token}`));
      expect(status).toBe(400);
      expect(body.code).toBe('invalid_json');
    });
  }
});

describe('OIP datatypes are checked against the model input', () => {
  for (const datatype of ['UINT8', 'BOOL', 'INT64', 'FP64', 'FP16', 'BYTES']) {
    it(`refuses the FP32 input "features" sent as ${datatype}`, async () => {
      const { status, body } = await whole(datatype, datatype === 'BOOL' ? row.map(Boolean) : row);
      expect(status).toBe(400);
      expect(body.field).toBe('inputs[0].datatype');
      expect(body.error).toMatch(`"features" is FP32, got ${datatype}`);
    });
  }

  it('refuses a numeric feature sent as BOOL', async () => {
    const { status, body } = await infer(perFeature({ age: { datatype: 'BOOL', data: [true] } }));
    expect(status).toBe(400);
    expect(body.field).toBe('age');
  });

  it('refuses a fraction in an INT64 tensor, naming the element', async () => {
    const { status, body } = await infer(perFeature({ age: { datatype: 'INT64', data: [41.5] } }));
    expect(status).toBe(400);
    expect(body.field).toBe('inputs[0].data[0]');
    expect(body.error).toMatch(/INT64; got 41.5/);
  });

  it('refuses a string in an FP32 tensor', async () => {
    const { status, body } = await infer(perFeature({ age: { datatype: 'FP32', data: ['41'] } }));
    expect(status).toBe(400);
    expect(body.field).toBe('inputs[0].data[0]');
  });
});

describe('megabyte values', () => {
  const huge = 'q'.repeat(5 * 1024 * 1024);

  it('answers an unknown categorical level of 5 MB with a short error', async () => {
    const started = performance.now();
    const { status, bytes, body } = await predict({ ...churnInstance, plan: huge });
    expect(status).toBe(400);
    expect(body.field).toBe('plan');
    expect(bytes).toBeLessThan(2_000);
    expect(performance.now() - started).toBeLessThan(30_000);
  });

  it('answers a 5 MB string where a number belongs with a short error', async () => {
    const { status, bytes } = await predict({ ...churnInstance, age: huge });
    expect(status).toBe(400);
    expect(bytes).toBeLessThan(2_000);
  });

  it('answers a 5 MB feature name with a short error', async () => {
    const { status, bytes } = await predict({ ...churnInstance, [huge]: 1 });
    expect(status).toBe(400);
    expect(bytes).toBeLessThan(2_000);
  });

  it('answers a 5 MB BYTES level in an OIP tensor with a short error', async () => {
    const { status, bytes } = await infer(perFeature({ region: { data: [huge] } }));
    expect(status).toBe(400);
    expect(bytes).toBeLessThan(2_000);
  });
});

describe('content types and methods', () => {
  it('takes a JSON body without Content-Type (tritonclient.http sends none)', async () => {
    // fetch labels a string body text/plain; bytes go without a Content-Type.
    const { status } = await post('/models/demo/predict', Buffer.from(JSON.stringify({ instances: [churnInstance] })), {});
    expect(status).toBe(200);
  });

  it('takes application/*+json', async () => {
    const { status } = await post('/models/demo/predict', JSON.stringify({ instances: [churnInstance] }), { 'content-type': 'application/vnd.api+json; charset=utf-8' });
    expect(status).toBe(200);
  });

  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'text/csv']) {
    it(`answers 415 to ${type}, saying what is accepted`, async () => {
      const { status, body } = await post('/models/demo/predict', JSON.stringify({ instances: [churnInstance] }), { 'content-type': type });
      expect(status).toBe(415);
      expect(body).toMatchObject({ field: 'content-type', code: 'unsupported_media_type' });
      expect(body.error).toMatch(/application\/json/);
    });
  }

  it('answers application/octet-stream with 415 on /predict, which has no binary form', async () => {
    const { status } = await post('/models/demo/predict', JSON.stringify({ instances: [churnInstance] }), { 'content-type': 'application/octet-stream' });
    expect(status).toBe(415);
  });

  for (const path of ['/v2/health/live', '/v2/health/ready', '/v2/models/demo']) {
    it(`answers HEAD ${path} like GET, without a body`, async () => {
      const response = await fetch(url + path, { method: 'HEAD' });
      expect(response.status).toBe(200);
      expect(await response.text()).toBe('');
    });
  }

  it('lists HEAD in Allow beside GET', async () => {
    const response = await fetch(`${url}/v2/health/live`, { method: 'DELETE' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, HEAD');
  });
});
