import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceEngine } from '../../core/model/engine';
import type { ModelPackage } from '../../core/model/model-package';
import { Predictor } from '../../core/model/predictor';
import { StaticModelSource } from '../../core/model/registry';
import { startApiServer } from '../../local/api-server';
import { churnInstance, trainDemoPackage } from '../helpers/demo-package';
import { useTempDir } from '../helpers/tmp';

const tmp = useTempDir();
let pkg: ModelPackage;
let url: string;
let close: () => Promise<void>;
let engine: InferenceEngine;
let direct: Predictor;

beforeAll(async () => {
  pkg = await trainDemoPackage(tmp.path);
  engine = new InferenceEngine(new StaticModelSource([pkg]));
  ({ url, close } = await startApiServer({ engine, requiredModels: ['demo'], limits: { maxBatchRows: 100, maxBodyBytes: 64 * 1024 } }, { port: 0 }));
  direct = await Predictor.create(pkg);
});

afterAll(async () => {
  await close?.();
  await engine?.release();
  await direct?.release();
});

async function post(path: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) {
  const response = await fetch(url + path, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

/** Probabilities straight from ONNX Runtime for the churn instance, to compare with what the API says. */
async function directProbabilities(): Promise<number[]> {
  const x = Float32Array.from([41, 52000, 6, 2.5, 4, 80.5, 0, 1, 0]);
  const scores = await direct.predict({ data: x, rows: 1, cols: 9 });
  return Array.from(scores.values);
}

describe('health and metadata', () => {
  it('reports live and ready once the required model has loaded', async () => {
    expect(await (await fetch(`${url}/v2/health/live`)).json()).toEqual({ live: true });
    const ready = await fetch(`${url}/v2/health/ready`);
    expect(ready.status).toBe(200);
  });

  it('describes the model: tensors, classes and the feature schema', async () => {
    const response = await fetch(`${url}/v2/models/demo`);
    const body = (await response.json()) as Record<string, any>;
    expect(body).toMatchObject({
      name: 'demo',
      versions: ['1.0.0'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'features', datatype: 'FP32', shape: [-1, 9] }],
      outputs: [{ name: 'probabilities', shape: [-1, 2] }, { name: 'label', datatype: 'BYTES' }],
    });
    expect(body.parameters.features.map((f: { name: string }) => f.name)).toContain('plan');
  });

  it('answers 404 naming a model that is not deployed', async () => {
    const response = await fetch(`${url}/v2/models/nope`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ code: 'model_not_found', error: 'model "nope" is not deployed' });
  });
});

describe('POST /models/{name}/predict', () => {
  it('scores named-feature instances exactly as ONNX Runtime does', async () => {
    const { status, body } = await post('/models/demo/predict', { instances: [churnInstance] });
    expect(status).toBe(200);
    const [no, yes] = await directProbabilities();
    expect(body.predictions[0].probabilities.no).toBeCloseTo(no!, 6);
    expect(body.predictions[0].probabilities.yes).toBeCloseTo(yes!, 6);
    expect(body.predictions[0].label).toBe(yes! > no! ? 'yes' : 'no');
    expect(body).toMatchObject({ model_name: 'demo', model_version: '1.0.0' });
  });

  it('accepts positional instances in the manifest feature order', async () => {
    const { body } = await post('/models/demo/predict', { instances: [[41, 52000, 6, 2.5, 4, 80.5, 'basic', 'eu', 'web']] });
    const named = await post('/models/demo/predict', { instances: [churnInstance] });
    expect(body.predictions).toEqual(named.body.predictions);
  });

  it('serves a pinned version under /versions/{v}', async () => {
    const { status, body } = await post('/models/demo/versions/1.0.0/predict', { instances: [churnInstance] });
    expect(status).toBe(200);
    expect(body.model_version).toBe('1.0.0');
  });

  it('rejects a string where a number belongs, naming the field and the instance', async () => {
    const { status, body } = await post('/models/demo/predict', { instances: [churnInstance, { ...churnInstance, age: 'forty' }] });
    expect(status).toBe(400);
    expect(body).toMatchObject({ code: 'invalid_feature', field: 'age', instance: 1 });
    expect(body.error).toBe('instances[1].age: feature "age" must be a number, got "forty"');
  });

  it('rejects an unknown categorical level, listing the levels', async () => {
    const { status, body } = await post('/models/demo/predict', { instances: [{ ...churnInstance, plan: 'gold' }] });
    expect(status).toBe(400);
    expect(body.error).toMatch(/feature "plan" has unknown level "gold"; expected one of "basic", "pro", "enterprise"/);
  });

  it('rejects a missing required feature by name', async () => {
    const { age: _age, ...withoutAge } = churnInstance;
    const { status, body } = await post('/models/demo/predict', { instances: [withoutAge] });
    expect(status).toBe(400);
    expect(body).toMatchObject({ field: 'age', instance: 0 });
    expect(body.error).toMatch(/is required but missing/);
  });

  it('rejects an unknown feature name (a typo) instead of ignoring it', async () => {
    const { status, body } = await post('/models/demo/predict', { instances: [{ ...churnInstance, agee: 3 }] });
    expect(status).toBe(400);
    expect(body).toMatchObject({ code: 'invalid_feature', field: 'agee' });
  });

  it('refuses more instances than the batch limit with 413', async () => {
    const { status, body } = await post('/models/demo/predict', { instances: new Array(101).fill(churnInstance) });
    expect(status).toBe(413);
    expect(body).toMatchObject({ code: 'batch_too_large', field: 'instances' });
  });
});

describe('POST /v2/models/{name}/infer (Open Inference Protocol v2)', () => {
  const perFeature = (instance: typeof churnInstance, rows = 1) =>
    Object.entries(instance).map(([name, value]) => ({
      name,
      shape: [rows],
      datatype: typeof value === 'string' ? 'BYTES' : 'FP32',
      data: new Array(rows).fill(value),
    }));

  it('scores one tensor per feature and returns probabilities and labels', async () => {
    const { status, body } = await post('/v2/models/demo/infer', { id: 'req-1', inputs: perFeature(churnInstance, 2) });
    expect(status).toBe(200);
    expect(body).toMatchObject({ model_name: 'demo', model_version: '1.0.0', id: 'req-1' });
    const probabilities = body.outputs.find((o: { name: string }) => o.name === 'probabilities');
    expect(probabilities.shape).toEqual([2, 2]);
    const expected = await directProbabilities();
    expect(probabilities.data[0]).toBeCloseTo(expected[0]!, 6);
    expect(body.outputs.find((o: { name: string }) => o.name === 'label')).toMatchObject({ datatype: 'BYTES', shape: [2] });
  });

  it('scores the whole input tensor with categorical level indices', async () => {
    const { status, body } = await post('/v2/models/demo/infer', {
      inputs: [{ name: 'features', shape: [1, 9], datatype: 'FP32', data: [41, 52000, 6, 2.5, 4, 80.5, 0, 1, 0] }],
    });
    expect(status).toBe(200);
    const expected = await directProbabilities();
    expect(body.outputs[0].data[1]).toBeCloseTo(expected[1]!, 6);
  });

  it('returns only the outputs the request asks for', async () => {
    const { body } = await post('/v2/models/demo/infer', { inputs: perFeature(churnInstance), outputs: [{ name: 'label' }] });
    expect(body.outputs.map((o: { name: string }) => o.name)).toEqual(['label']);
  });

  it('names the bad tensor field by its path', async () => {
    const { status, body } = await post('/v2/models/demo/infer', { inputs: [{ name: 'features', shape: [1, 'x'], datatype: 'FP32', data: [] }] });
    expect(status).toBe(400);
    expect(body.field).toBe('inputs[0].shape[1]');
  });

  it('rejects data whose length does not match the shape', async () => {
    const { status, body } = await post('/v2/models/demo/infer', { inputs: [{ name: 'features', shape: [2, 9], datatype: 'FP32', data: [1, 2, 3] }] });
    expect(status).toBe(400);
    expect(body.error).toMatch(/needs 18 values, got 3/);
  });

  it('rejects a categorical feature sent as a number tensor', async () => {
    const inputs = perFeature(churnInstance).map((t) => (t.name === 'plan' ? { ...t, datatype: 'FP32', data: [1] } : t));
    const { status, body } = await post('/v2/models/demo/infer', { inputs });
    expect(status).toBe(400);
    expect(body).toMatchObject({ field: 'plan' });
  });
});

describe('transport errors', () => {
  it('answers 415 to a body that is not JSON by content type', async () => {
    const { status, body } = await post('/models/demo/predict', 'instances=1', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(status).toBe(415);
    expect(body.field).toBe('content-type');
  });

  it('answers 400 to invalid JSON', async () => {
    const { status, body } = await post('/models/demo/predict', '{"instances": [');
    expect(status).toBe(400);
    expect(body.code).toBe('invalid_json');
  });

  it('answers 413 to a body over the size limit', async () => {
    const { status } = await post('/models/demo/predict', JSON.stringify({ instances: [], pad: 'x'.repeat(70 * 1024) }));
    expect(status).toBe(413);
  });

  it('answers 405 with Allow to a wrong method on a known route', async () => {
    const response = await fetch(`${url}/models/demo/predict`);
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
  });

  it('answers 404 to an unknown route', async () => {
    const response = await fetch(`${url}/v3/anything`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ code: 'route_not_found' });
  });
});
