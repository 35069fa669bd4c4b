import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataPrefixes } from '../../core/layout';
import { PackageFiles } from '../../core/model/manifest';
import { ModelRepository } from '../../core/model/registry';
import { S3BlobStore } from '../../functions/shared/s3-blob-store';
import { ensureDemoModel } from '../../local/bootstrap';
import { type EmbeddedS3, startEmbeddedS3 } from '../../local/embedded-s3';
import { localPipelineContext } from '../../local/pipeline';
import { generatedHeader, generateRows } from '../../model-pipeline/data/generate';
import { runPipeline } from '../../model-pipeline/pipeline/runner';
import type { PipelineContext } from '../../model-pipeline/pipeline/steps';
import { trainingJobName } from '../../core/training-contract';
import { useTempDir } from '../helpers/tmp';

/**
 * Training mode sagemaker on one machine: a user's training script (test/fixtures/training/train.ts,
 * standing in for an image) runs under the /opt/ml contract; its model.onnx becomes the candidate,
 * which is evaluated, gated and registered like a built-in one. A script that breaks the contract
 * fails the run with the reason, and the serving model stays.
 */

const SCRIPT = fileURLToPath(new URL('../fixtures/training/train.ts', import.meta.url));
const tmp = useTempDir();
let s3: EmbeddedS3;
let models: ModelRepository;
let data: S3BlobStore;
const lines: string[] = [];
const today = new Date().toISOString().slice(0, 10);

/** A pipeline whose training jobs run the fixture script with these extra hyperparameters. */
const contextWith = (hyperparameters: Record<string, string>): PipelineContext =>
  localPipelineContext(
    models,
    data,
    tmp.file('work'),
    (line) => lines.push(line),
    { training: { mode: 'sagemaker', hyperparameters: { epochs: '20', ...hyperparameters } }, quantize: false },
    { trainingCommand: { command: [process.execPath, '--import', 'tsx', SCRIPT] } },
  );

beforeAll(async () => {
  s3 = await startEmbeddedS3({ directory: tmp.file('s3'), port: 0, buckets: ['models', 'data'] });
  models = new ModelRepository(new S3BlobStore(s3.client, 'models'));
  data = new S3BlobStore(s3.client, 'data');
  await ensureDemoModel(models, data, tmp.file('work'));
  const drifted = [...generateRows({ rows: 2000, seed: 21, drift: { concept: 0.9 } })];
  await data.write(`${DataPrefixes.labels}demo/${today}/labels.csv`, [generatedHeader().join(','), ...drifted.map((r) => r.cells.join(','))].join('\n'));
});

afterAll(async () => {
  await s3?.close();
});

const notifications = async () => Promise.all((await data.list(DataPrefixes.notifications)).map(async (k) => JSON.parse(new TextDecoder().decode(await data.read(k)))));
const trigger = { kind: 'manual', reason: 'user training image' } as const;

describe('a training job that breaks the contract', { timeout: 120_000 }, () => {
  it('fails the run at importArtifact when the job writes no model.onnx, and leaves no version behind', async () => {
    const state = await runPipeline(contextWith({ behaviour: 'no-model' }), { model: 'demo', runId: 'no-model', trigger });
    expect(state.outcome).toBe('failed');
    expect(state.steps.importArtifact?.error).toBe(`training job ${trainingJobName('demo', 'no-model')} wrote no model.onnx to /opt/ml/model (its model.tar.gz holds nothing)`);
    const registry = await models.registryOf('demo');
    expect(registry.serving).toBe('1.0.0');
    expect(registry.versions.map((v) => v.version)).toEqual(['1.0.0']);
    expect(await notifications()).toContainEqual(expect.objectContaining({ runId: 'no-model', outcome: 'failed', subject: 'demo: retraining run no-model failed at importArtifact' }));
  });

  it('fails the run naming the serving schema when the model takes other inputs', async () => {
    const state = await runPipeline(contextWith({ behaviour: 'wrong-inputs' }), { model: 'demo', runId: 'wrong-inputs', trigger });
    expect(state.outcome).toBe('failed');
    expect(state.steps.importArtifact?.error).toMatch(/model\.onnx's input .* takes 8 features; the serving model's schema has 9 \(age, income, /);
    expect((await models.registryOf('demo')).versions.map((v) => v.version)).toEqual(['1.0.0']);
    expect(await notifications()).toContainEqual(expect.objectContaining({ runId: 'wrong-inputs', outcome: 'failed' }));
  });

  it('fails the run at train with the reason the job wrote to /opt/ml/output/failure', async () => {
    const state = await runPipeline(contextWith({ behaviour: 'fail' }), { model: 'demo', runId: 'job-fails', trigger });
    expect(state.outcome).toBe('failed');
    expect(state.steps.train?.error).toBe(`training job ${trainingJobName('demo', 'job-fails')} failed (exit code 1): the label column has a single value; nothing to learn`);
    expect((await models.registryOf('demo')).serving).toBe('1.0.0');
  });
});

describe('a training job that keeps the contract', { timeout: 180_000 }, () => {
  it('trains, imports, gates, registers and promotes the candidate', async () => {
    const state = await runPipeline(contextWith({}), { model: 'demo', runId: 'user-image', trigger });
    expect(state.outcome, JSON.stringify(state.steps, null, 1)).toBe('promoted');
    expect(Object.keys(state.steps)).toEqual(['prepare', 'train', 'importArtifact', 'evaluate', 'quantize', 'gate', 'register', 'deploy', 'canaryCheck', 'notify']);
    expect(state.evaluation!.candidate).toBeGreaterThan(state.evaluation!.serving);
    expect((await models.registryOf('demo')).serving).toBe(state.candidateVersion);
  });

  it('records the job, the run and the parent in the candidate manifest, with the serving schema', async () => {
    const runState = await runPipeline(contextWith({}), { model: 'demo', runId: 'user-image', trigger });
    const candidate = await models.load('demo', runState.candidateVersion!);
    const serving = await models.load('demo', '1.0.0');
    expect(candidate.manifest.parentVersion).toBe('1.0.0');
    expect(candidate.manifest.provenance).toMatchObject({ trainer: 'training-job', trainingJob: trainingJobName('demo', 'user-image'), runId: 'user-image', trigger });
    expect(candidate.manifest.input.features).toEqual(serving.manifest.input.features);
    expect(candidate.manifest.trainingData).toMatchObject({ rows: runState.data!.trainRows, source: 'pipeline/demo/user-image/train.csv', fingerprint: expect.any(String) });
    expect([...candidate.files.keys()]).toContain(PackageFiles.baseline);
  });
});
