import { Agent, request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceEngine } from '../../core/model/engine';
import { StaticModelSource } from '../../core/model/registry';
import { startApiServer } from '../../local/api-server';
import { Random } from '../../core/random';
import { churnInstance, trainDemoPackage } from '../helpers/demo-package';
import { useTempDir } from '../helpers/tmp';

/**
 * Hostile input, at volume: 10,000 malformed requests over real HTTP. The promise under
 * test: never a 5xx for a client's mistake, and every error names what is wrong.
 */

const tmp = useTempDir();
let port: number;
let close: () => Promise<void>;
let engine: InferenceEngine;

beforeAll(async () => {
  const pkg = await trainDemoPackage(tmp.path);
  engine = new InferenceEngine(new StaticModelSource([pkg]));
  const server = await startApiServer({ engine, requiredModels: ['demo'] }, { port: 0 });
  port = Number(new URL(server.url).port);
  close = server.close;
});

afterAll(async () => {
  await close?.();
  await engine?.release();
});

interface Case {
  readonly method: string;
  readonly path: string;
  readonly contentType?: string;
  readonly body: string;
}

const HOSTILE_VALUES: unknown[] = [
  'NaN', 'Infinity', '-Infinity', 'nan', '', ' ', '1e999', '0x10', '1_000', '١٢', 'null', 'true', '{}', '[]',
  null, true, false, [], {}, [1, 2], { value: 1 }, -0, 1e308, -1e308, Number.MAX_SAFE_INTEGER,
  'x'.repeat(10_000), '\u0000', '\ud800', '<script>alert(1)</script>', "'; DROP TABLE models; --", '../../etc/passwd',
];
const HOSTILE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'agee', '', ' age', 'AGE', 'x'.repeat(5000), '\u0000'];
const PATHS = [
  '/models/demo/predict', '/v2/models/demo/infer', '/models/demo/versions/9.9.9/predict', '/v2/models/nope/infer',
  '/models/DEMO/predict', '/models/../demo/predict', '/models/%2e%2e/predict', '/v2/models/demo/versions/1.0.0/infer',
  `/models/${'a'.repeat(300)}/predict`, '/v2/models/demo', '/v2/health/ready', '/', '/v2/models//infer',
];

function mutateInstance(random: Random): unknown {
  const instance: Record<string, unknown> = { ...churnInstance };
  const keys = Object.keys(instance);
  switch (random.choice([0.45, 0.2, 0.15, 0.2])) {
    case 0:
      instance[keys[Math.floor(random.next() * keys.length)]!] = HOSTILE_VALUES[Math.floor(random.next() * HOSTILE_VALUES.length)];
      return instance;
    case 1:
      delete instance[keys[Math.floor(random.next() * keys.length)]!];
      return instance;
    case 2:
      instance[HOSTILE_KEYS[Math.floor(random.next() * HOSTILE_KEYS.length)]!] = 1;
      return instance;
    default:
      return Object.values(instance).slice(0, Math.floor(random.next() * 12));
  }
}

function deep(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

function makeCase(random: Random, i: number): Case {
  const json = (body: unknown, path = '/models/demo/predict'): Case => ({ method: 'POST', path, contentType: 'application/json', body: JSON.stringify(body) });
  switch (i % 12) {
    case 0:
    case 1:
    case 2:
      return json({ instances: Array.from({ length: 1 + Math.floor(random.next() * 3) }, () => mutateInstance(random)) });
    case 3:
      return json({ inputs: [{ name: 'features', shape: [1, 9], datatype: 'FP32', data: [41, 52000, 6, 2.5, 4, 80.5, 0, 1, 0].map((v) => (random.next() < 0.3 ? HOSTILE_VALUES[Math.floor(random.next() * HOSTILE_VALUES.length)] : v)) }] }, '/v2/models/demo/infer');
    case 4: {
      const shapes = [[-1, 9], [1e9, 9], [1, 9, 1], [], [2], [0, 9], [1.5, 9], ['1', 9], [1, 8], [3000, 9]];
      const datatypes = ['FP32', 'BYTES', 'STRING', 'fp32', '', 'INT64'];
      return json({ inputs: [{ name: random.next() < 0.8 ? 'features' : 'age', shape: shapes[Math.floor(random.next() * shapes.length)], datatype: datatypes[Math.floor(random.next() * datatypes.length)], data: random.next() < 0.5 ? [1, 2, 3] : [[1, [2]], { a: 1 }] }] }, '/v2/models/demo/infer');
    }
    case 5: {
      const bodies = [{}, { instances: {} }, { instances: 'all' }, { instances: [] }, { instances: null }, { inputs: [] }, { inputs: {} }, [], 'instances', 42, null, { instances: [null] }, { instances: [[[1]]] }];
      return json(bodies[Math.floor(random.next() * bodies.length)], random.next() < 0.5 ? '/models/demo/predict' : '/v2/models/demo/infer');
    }
    case 6: {
      const texts = ['', '{', '{"instances": [', 'undefined', '{"instances": [1,]}', "{'instances': []}", '\uFEFF{"instances": []}', '{"a":1}{"b":2}', String.fromCharCode(...Array.from({ length: 64 }, () => Math.floor(random.next() * 256))), deep(5000), `{"instances": ${deep(2000)}}`];
      return { method: 'POST', path: '/models/demo/predict', contentType: 'application/json', body: texts[Math.floor(random.next() * texts.length)]! };
    }
    case 7: {
      const types = ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'json', 'application/json-seq'];
      return { method: 'POST', path: '/models/demo/predict', contentType: types[Math.floor(random.next() * types.length)], body: JSON.stringify({ instances: [churnInstance] }) };
    }
    case 8:
      return json({ instances: new Array(1001 + Math.floor(random.next() * 50)).fill([1]) });
    case 9:
      return { method: ['GET', 'PUT', 'DELETE', 'PATCH', 'POST'][Math.floor(random.next() * 5)]!, path: PATHS[Math.floor(random.next() * PATHS.length)]!, contentType: 'application/json', body: random.next() < 0.5 ? '' : '{"instances": 1}' };
    case 10: {
      const inputs = Object.entries(churnInstance).map(([name, value]) => ({ name, shape: [1], datatype: typeof value === 'string' ? 'BYTES' : 'FP32', data: [value] as unknown[] }));
      const victim = inputs[Math.floor(random.next() * inputs.length)]!;
      const mutation = Math.floor(random.next() * 5);
      if (mutation === 0) victim.data = [HOSTILE_VALUES[Math.floor(random.next() * HOSTILE_VALUES.length)]];
      if (mutation === 1) victim.shape = [2];
      if (mutation === 2) victim.name = HOSTILE_KEYS[Math.floor(random.next() * HOSTILE_KEYS.length)]!;
      if (mutation === 3) inputs.push({ ...victim });
      if (mutation === 4) victim.datatype = victim.datatype === 'BYTES' ? 'FP32' : 'BYTES';
      return json({ inputs, outputs: random.next() < 0.2 ? [{ name: 'logits' }] : undefined }, '/v2/models/demo/infer');
    }
    default:
      return json({ instances: [Object.fromEntries(Object.keys(churnInstance).map((k) => [k, HOSTILE_VALUES[Math.floor(random.next() * HOSTILE_VALUES.length)]]))] });
  }
}

function send(agent: Agent, c: Case): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, method: c.method, path: c.path, agent, headers: { 'content-length': Buffer.byteLength(c.body), ...(c.contentType ? { 'content-type': c.contentType } : {}) } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(c.body);
  });
}

describe('the API under 10,000 hostile requests', () => {
  it('never answers 5xx, and every error says what is wrong', { timeout: 120_000 }, async () => {
    const random = new Random(2026);
    const cases = Array.from({ length: 10_000 }, (_, i) => makeCase(random, i));
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    let next = 0;
    const worker = async () => {
      while (next < cases.length) {
        const c = cases[next++]!;
        const { status, body } = await send(agent, c);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status >= 500) failures.push(`${status} for ${c.method} ${c.path}: ${c.body.slice(0, 200)}`);
        if (status >= 400) {
          let parsed: { error?: unknown; code?: unknown; field?: unknown } = {};
          try {
            parsed = JSON.parse(body);
          } catch {
            failures.push(`non-JSON ${status} for ${c.method} ${c.path} ${c.contentType}: ${c.body.slice(0, 80)} → ${body.slice(0, 80)}`);
          }
          const namesField = parsed.code !== 'invalid_feature' && parsed.code !== 'invalid_request' ? true : typeof parsed.field === 'string' && parsed.field.length > 0;
          if (typeof parsed.error !== 'string' || parsed.error.length < 10 || typeof parsed.code !== 'string' || !namesField) {
            failures.push(`unhelpful ${status} for ${c.body.slice(0, 120)}: ${body.slice(0, 200)}`);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    agent.destroy();
    expect(failures.slice(0, 10)).toEqual([]);
    expect([...statuses.keys()].every((s) => s < 500)).toBe(true);
    // The mix must exercise the rejection paths, not only succeed.
    expect(statuses.get(400) ?? 0).toBeGreaterThan(5000);
    expect(statuses.get(413) ?? 0).toBeGreaterThan(0);
    expect(statuses.get(415) ?? 0).toBeGreaterThan(0);
  });
});
