import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataPrefixes } from '../../core/layout';
import { InferenceEngine } from '../../core/model/engine';
import { ModelRepository } from '../../core/model/registry';
import { S3BlobStore } from '../../functions/shared/s3-blob-store';
import { DEMO_MODEL, ensureDemoModel } from '../../local/bootstrap';
import { type EmbeddedS3, startEmbeddedS3 } from '../../local/embedded-s3';
import { localPipelineContext } from '../../local/pipeline';
import { generatedHeader, generateRows } from '../../model-pipeline/data/generate';
import { runPipeline } from '../../model-pipeline/pipeline/runner';
import type { PipelineContext } from '../../model-pipeline/pipeline/steps';
import { promote, rollback } from '../../model-pipeline/registry/registry-ops';
import { useTempDir } from '../helpers/tmp';

/**
 * Retraining on the local platform's storage (embedded S3): drifted, labelled data arrives;
 * the pipeline trains, evaluates, quantizes, gates, registers and deploys; rollback restores.
 */

const tmp = useTempDir();
let s3: EmbeddedS3;
let models: ModelRepository;
let data: S3BlobStore;
let ctx: PipelineContext;
const lines: string[] = [];
const today = new Date().toISOString().slice(0, 10);

beforeAll(async () => {
  s3 = await startEmbeddedS3({ directory: tmp.file('s3'), port: 0, buckets: ['models', 'data'] });
  models = new ModelRepository(new S3BlobStore(s3.client, 'models'));
  data = new S3BlobStore(s3.client, 'data');
  await ensureDemoModel(models, data, tmp.file('work'));
  ctx = localPipelineContext(models, data, tmp.file('work'), (line) => lines.push(line), { epochs: 25 });
  // The label's relation to the features has changed: the serving model is now often wrong.
  const drifted = [...generateRows({ rows: 3000, seed: 21, drift: { concept: 0.9 } })];
  await data.write(`${DataPrefixes.labels}demo/${today}/labels.csv`, [generatedHeader().join(','), ...drifted.map((r) => r.cells.join(','))].join('\n'));
});

afterAll(async () => {
  await s3?.close();
});

const notifications = async () => Promise.all((await data.list(DataPrefixes.notifications)).map(async (k) => JSON.parse(new TextDecoder().decode(await data.read(k)))));

describe('a retraining run after concept drift', { timeout: 180_000 }, () => {
  it('promotes a candidate that beats the serving model on the new data', async () => {
    const state = await runPipeline(ctx, { model: 'demo', runId: 'run-1', trigger: { kind: 'drift', reason: 'concept drift detected' } });
    expect(state.outcome, JSON.stringify(state.steps, null, 1)).toBe('promoted');
    expect(state.candidateVersion).toBe('1.1.0');
    expect(state.evaluation!.candidate).toBeGreaterThan(state.evaluation!.serving + 0.05);
    const registry = await models.registryOf('demo');
    expect(registry.serving).toBe('1.1.0');
    expect(registry.versions.map((v) => [v.version, v.status])).toEqual([['1.0.0', 'retired'], ['1.1.0', 'serving']]);
  });

  it('runs every step and tells the on-call channel about the promotion', async () => {
    const state = await runPipeline(ctx, { model: 'demo', runId: 'run-1', trigger: { kind: 'drift', reason: 'concept drift detected' } });
    expect(Object.keys(state.steps)).toEqual(['prepare', 'train', 'evaluate', 'quantize', 'gate', 'register', 'deploy', 'canaryCheck', 'notify']);
    expect(state.steps.canaryCheck?.summary).toBe('no canary to check');
    expect(await notifications()).toContainEqual(expect.objectContaining({ runId: 'run-1', outcome: 'promoted', subject: 'demo: 1.1.0 promoted' }));
  });

  it('records lineage and a quantization verdict in the new package', async () => {
    const pkg = await models.load('demo', '1.1.0');
    expect(pkg.manifest.parentVersion).toBe('1.0.0');
    expect(pkg.manifest.quantization).toBeDefined();
  });

  it('serves the new version to requests that name none', async () => {
    const engine = new InferenceEngine(models, { servingTtlMs: 0 });
    const model = await engine.model(DEMO_MODEL.name);
    expect(model.manifest.version).toBe('1.1.0');
    const prediction = await model.predict({ data: Float32Array.from([41, 52000, 6, 2.5, 4, 80.5, 0, 1, 0]), rows: 1, cols: 9 });
    expect(prediction.width).toBe(2);
    await engine.release();
  });

  it('changes nothing when the same run id runs again', async () => {
    const again = await runPipeline(ctx, { model: 'demo', runId: 'run-1', trigger: { kind: 'drift', reason: 'redelivered event' } });
    expect(again.outcome).toBe('promoted');
    expect(await models.listVersions('demo')).toEqual(['1.0.0', '1.1.0']);
  });

  it('rolls back to the previous version, which was kept', async () => {
    const registry = await rollback(models, 'demo', 'canary alarms fired');
    expect(registry.serving).toBe('1.0.0');
    expect(registry.versions.find((v) => v.version === '1.1.0')).toMatchObject({ status: 'retired', note: 'rolled back: canary alarms fired' });
    await promote(models, 'demo', '1.1.0', 'restored for the next tests');
  });
});

describe('a candidate that fails the gate', { timeout: 180_000 }, () => {
  it('is rejected, never served, and cannot be promoted by hand', async () => {
    const strict = localPipelineContext(models, data, tmp.file('work'), () => {}, { epochs: 5, maxDropPoints: -100, quantize: false });
    const state = await runPipeline(strict, { model: 'demo', runId: 'run-2', trigger: { kind: 'manual', reason: 'gate test' } });
    expect(state.outcome).toBe('rejected');
    const registry = await models.registryOf('demo');
    expect(registry.serving).toBe('1.1.0');
    expect(registry.versions.find((v) => v.version === '1.2.0')).toMatchObject({ status: 'rejected' });
    await expect(promote(models, 'demo', '1.2.0', 'by hand')).rejects.toThrow(/was rejected/);
    expect(state.steps.notify?.status).toBe('succeeded');
    expect(await notifications()).toContainEqual(expect.objectContaining({ runId: 'run-2', outcome: 'rejected' }));
  });
});

describe('a failing step', { timeout: 60_000 }, () => {
  it('leaves the serving model untouched and sends a failure notification', async () => {
    await data.write(`${DataPrefixes.labels}demo/${today}/broken.csv`, 'customer_id,age\nc1,40\n');
    const state = await runPipeline(ctx, { model: 'demo', runId: 'run-3', trigger: { kind: 'manual', reason: 'failure test' } });
    expect(state.outcome).toBe('failed');
    expect(state.steps.prepare).toMatchObject({ status: 'failed', error: expect.stringContaining('broken.csv lacks some of the columns') });
    expect((await models.registryOf('demo')).serving).toBe('1.1.0');
    expect(await notifications()).toContainEqual(expect.objectContaining({ runId: 'run-3', outcome: 'failed', subject: 'demo: retraining run run-3 failed at prepare' }));
  });
});
