import { describe, expect, it } from 'vitest';
import { CaptureBuffer, captureKey, toCaptureRecords } from '../../core/capture/capture';
import { parseManifest } from '../../core/model/manifest';

const manifest = parseManifest({
  schemaVersion: 1,
  name: 'churn',
  version: '2.1.0',
  task: 'binary',
  input: { tensor: 'x', features: [{ name: 'age', type: 'numeric', nullable: true }, { name: 'plan', type: 'categorical', levels: ['basic', 'pro'] }] },
  output: { tensor: 'p', kind: 'probabilities', classes: ['no', 'yes'] },
  createdAt: '2026-11-23T10:00:00.000Z',
  files: { 'model.onnx': { sha256: 'a'.repeat(64), bytes: 1 } },
});
const matrix = { data: Float32Array.from([30, 1, Number.NaN, 0]), rows: 2, cols: 2 };
const scores = { rows: 2, width: 2, values: Float32Array.from([0.25, 0.75, 0.9, 0.1]) };

describe('captureKey', () => {
  it('partitions by model, version, date and UTC hour', () => {
    expect(captureKey('churn', '2.1.0', new Date('2026-11-23T07:05:09.123Z'), 'u1')).toBe('capture/churn/2.1.0/2026/11/23/07/20261123T070509Z-u1.jsonl');
  });
});

describe('toCaptureRecords', () => {
  it('records features as the client meant them: numbers, level names and null for missing', () => {
    const records = toCaptureRecords(manifest, matrix, scores, 'req-9', 1.5, new Date('2026-11-23T07:00:00Z'));
    expect(records).toEqual([
      { v: 1, requestId: 'req-9', row: 0, ts: '2026-11-23T07:00:00.000Z', model: 'churn', version: '2.1.0', features: { age: 30, plan: 'pro' }, prediction: { label: 'yes', probabilities: [0.25, 0.75] }, latencyMs: 1.5 },
      { v: 1, requestId: 'req-9', row: 1, ts: '2026-11-23T07:00:00.000Z', model: 'churn', version: '2.1.0', features: { age: null, plan: 'basic' }, prediction: { label: 'no', probabilities: [expect.closeTo(0.9, 6), expect.closeTo(0.1, 6)] }, latencyMs: 1.5 },
    ]);
  });
});

describe('CaptureBuffer', () => {
  it('writes nothing until flushed or full, then one JSONL object per model version', async () => {
    const writes: { key: string; body: string }[] = [];
    const buffer = new CaptureBuffer(async (key, body) => void writes.push({ key, body }), { maxRecords: 100 });
    buffer.offer(manifest, matrix, scores, 'a', 1);
    buffer.offer(manifest, matrix, scores, 'b', 1);
    expect(writes).toHaveLength(0);
    await buffer.flush();
    expect(writes).toHaveLength(1);
    expect(writes[0]!.body.trim().split('\n').map((l) => JSON.parse(l).requestId)).toEqual(['a', 'a', 'b', 'b']);
  });

  it('flushes by itself when the buffer is full', async () => {
    const writes: string[] = [];
    const buffer = new CaptureBuffer(async (key) => void writes.push(key), { maxRecords: 4 });
    buffer.offer(manifest, matrix, scores, 'a', 1);
    buffer.offer(manifest, matrix, scores, 'b', 1);
    await buffer.flush();
    expect(writes).toHaveLength(1);
  });

  it('keeps the sampled share of requests', async () => {
    let records = 0;
    const buffer = new CaptureBuffer(async (_, body) => void (records += body.trim().split('\n').length), { sampleRate: 0.25, maxRecords: 1e9, random: sequence() });
    for (let i = 0; i < 1000; i++) buffer.offer(manifest, matrix, scores, `r${i}`, 1);
    await buffer.flush();
    expect(records / 2).toBe(250);
  });

  it('reports a failed write without throwing into the request path', async () => {
    const errors: unknown[] = [];
    const buffer = new CaptureBuffer(async () => Promise.reject(new Error('S3 down')), { onError: (e) => errors.push(e) });
    buffer.offer(manifest, matrix, scores, 'a', 1);
    await buffer.flush();
    expect(errors).toHaveLength(1);
  });
});

/** 0, 0.001, 0.002, …: an exact quarter falls below 0.25. */
function sequence() {
  let i = 0;
  return () => (i++ % 1000) / 1000;
}
